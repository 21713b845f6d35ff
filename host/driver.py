"""The host driver: one interface to the watermark unit, whatever implements it.

A :class:`Backend` is a watermark unit that has been *configured* with a parameter set
(SPEC §3) and sits at keystream position 0 (SPEC §6). Three implementations exist and give
bit-identical outputs for the same parameters, key, IV and keystream position:

=============  ====================================================  ========================
name           what computes                                         module
=============  ====================================================  ========================
``reference``  the bit-exact numpy model (``ReferenceUnit``)         ``backend_reference``
``rtl``        the unit's Verilog under Verilator, driven in batches  ``backend_rtl``
``serial``     a board (or the simulated board's pty) over UART      ``backend_serial``
=============  ====================================================  ========================

:func:`open_backend` is the factory. Every backend shares :meth:`Backend.process`, which
checks the input (``int[M, N]`` W-bit codes), splits it into the backend's batch size, and
checks that *every input vector yields exactly one output vector, in order*: a backend that
returns another count or shape raises :class:`BackendError` instead of silently dropping or
duplicating vectors. ``position`` counts the vectors consumed since configuration, i.e. the
keystream position. :meth:`Backend.process_float` is the float-in/float-out path through
SPEC §2's conversion (:mod:`dynamarks.host.fixedpoint`).

Backends hold the parameter set only as long as they must to configure the device; none of
them logs it or puts it in an exception message.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from dynamarks.host.errors import DynamarksError
from dynamarks.host.fixedpoint import to_fixed, to_float
from dynamarks.host.params import Params
from dynamarks.host.reference import check_words


class BackendError(DynamarksError):
    """The backend or its device failed, or broke the one-output-per-input contract."""


class DeviceNotFound(BackendError):
    """No device answers where the backend was told to look (port absent, no reply)."""


class DeviceLockedError(BackendError):
    """The device is locked with a parameter set and refuses a new one until reset."""


class DeviceProtocolError(BackendError):
    """The device answered, but with garbage or something the protocol does not allow."""


#: name -> "module:Class", imported on first use so that e.g. the reference backend never
#: needs Verilator or pyserial.
BACKENDS: dict[str, str] = {
    "reference": "dynamarks.host.backend_reference:ReferenceBackend",
    "rtl": "dynamarks.host.backend_rtl:RtlBackend",
    "serial": "dynamarks.host.backend_serial:SerialBackend",
}


class Backend(ABC):
    """A configured watermark unit (see the module docstring).

    Subclasses set ``name``, optionally ``max_batch`` (vectors per ``_process`` call) and
    implement ``_process(p) -> out`` for ``int64[M, N]`` with ``1 <= M <= max_batch``, and
    ``_close()``. Use as a context manager or call :meth:`close`.
    """

    name: ClassVar[str] = "?"
    max_batch: int = 1 << 16

    def __init__(self, params: Params) -> None:
        params.validate()
        self.classes = params.classes
        self.width = params.width
        self.position = 0
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(classes={self.classes}, width={self.width}, "
            f"position={self.position})"
        )

    # ---- the interface -----------------------------------------------------------------

    def check_input(self, p: np.ndarray) -> np.ndarray:
        """``p`` as ``int64[M, N]`` of W-bit words, or :class:`InputError`."""
        return check_words(p, self.classes, self.width)

    def process(
        self, p: np.ndarray, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Pass fixed-point vectors ``int[M, N]`` through the unit; returns ``int64[M, N]``.

        Vector k of the result is the unit's output for vector k of the input; the keystream
        position advances by exactly M. ``progress(n)`` is called after every batch of n.
        """
        if self._closed:
            raise BackendError(f"the {self.name} backend is closed")
        p = self.check_input(p)
        m = p.shape[0]
        out = np.empty_like(p)
        for start in range(0, m, self.max_batch):
            chunk = p[start : start + self.max_batch]
            got = np.asarray(self._process(np.ascontiguousarray(chunk)))
            if got.shape != chunk.shape:
                raise BackendError(
                    f"the {self.name} backend returned {got.shape[0] if got.ndim else 0} "
                    f"vectors of shape {got.shape[1:]} for {chunk.shape[0]} input vectors of "
                    f"{self.classes} words: one output per input is required"
                )
            out[start : start + len(chunk)] = got
            self.position += len(chunk)
            if progress is not None:
                progress(len(chunk))
        return out

    def process_float(
        self, x: np.ndarray, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Float probability rows ``[M, N]`` in, altered float64 rows out (SPEC §2 both ways)."""
        return self.alter_float(x, progress)[0]

    def alter_float(
        self, x: np.ndarray, progress: Callable[[int], None] | None = None, *, first_row: int = 0
    ) -> tuple[np.ndarray, int]:
        """:meth:`process_float` that also counts the rows the unit altered (an aggregate
        only; which rows is never reported). ``first_row`` numbers the rows in errors (a
        chunk of a larger file). Backends with a fused float path override this."""
        codes = to_fixed(x, self.width, self.classes, first_row)
        out = self.process(codes, progress)
        return to_float(out, self.width), int((out != codes).any(axis=1).sum())

    def close(self) -> None:
        """Release the device (idempotent)."""
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- for subclasses ----------------------------------------------------------------

    @abstractmethod
    def _process(self, p: np.ndarray) -> np.ndarray:
        """Process ``int64[M, N]`` (1 <= M <= max_batch); return the M output vectors."""

    def _close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; default: nothing to release."""


def backend_class(name: str) -> type[Backend]:
    """The class registered for ``name`` (imported now); :class:`BackendError` if unknown."""
    try:
        target = BACKENDS[name]
    except KeyError:
        raise BackendError(
            f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}"
        ) from None
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendError(f"the {name} backend is not available: {exc}") from None
    return getattr(module, cls_name)


def open_backend(name: str, params: Params, **opts: Any) -> Backend:
    """Open backend ``name`` and configure it with ``params`` (keystream position 0).

    ``opts`` go to the backend: e.g. ``port=``, ``baudrate=``, ``timeout=`` for ``serial``;
    ``build_dir=`` for ``rtl``. Unknown options are refused.
    """
    return backend_class(name)(params, **opts)


def open_sealed_backend(
    name: str,
    secrets: str | Any,
    *,
    tcti: str | None = None,
    auth: bytes = b"",
    **opts: Any,
) -> Backend:
    """Unseal the parameter set of ``secrets`` (a ``dynamarks seal`` file) with the TPM at
    ``tcti`` into memory, then open and configure backend ``name`` with it.

    The TPM is asked first: when unsealing fails (TPM unreachable, PCRs changed, wrong auth,
    another TPM, tampered file) no device has been touched.
    """
    from dynamarks.host.sealing import load_secret_params

    params = load_secret_params(secrets, tcti=tcti, auth=auth)
    return open_backend(name, params, **opts)
