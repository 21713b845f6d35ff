"""Model + watermark unit for the server: what one batch goes through, and who owns the unit.

Interface::

    ServedModel (protocol): predict_proba(x float32[M, C, H, W]) -> float64[M, N],
                            classes: int, input_shape: tuple (C, H, W)
    UnitSupervisor(open_backend, retry_interval=1.0, clock=time.monotonic, owns_backend=True)
        .alter(codes int64[M, N]) -> int64[M, N]      # raises UnitUnavailable
        .ready, .position, .width, .classes, .recover(), .close()

Ownership: the watermark backend is single-threaded and stateful (every vector consumes one
keystream position, SPEC §6). Only the batcher's worker thread calls :class:`UnitSupervisor`;
nothing else touches the backend.

Faults. When the backend raises (board unplugged, Verilator process died, a reply lost), the
batch in flight fails as a whole (its requests get 503: nobody receives a partial answer),
the backend is closed and the supervisor is *not ready*. The keystream positions that batch
may have consumed are written off: ``position`` (the high-water mark) already counts them,
so no position is ever used twice. Recovery is attempted at most every ``retry_interval``
seconds (on the next batch, or when a readiness probe asks): ``open_backend()`` configures a
fresh unit, which starts at keystream position 0 with the same key and IV, so the supervisor
first fast-forwards it to the high-water mark by streaming filler vectors (all-zero words:
not well formed, passed through unchanged, one keystream word each, SPEC §9) and only then
declares itself ready. A restarted unit therefore continues the stream where the failed one
stopped and never repeats a draw.

A board (``serial`` backend) is locked after configuration and refuses a new parameter set
until it is reset (docs/PROTOCOL.md): the write-only parameters cannot be read back, so the
host cannot know whether the locked board holds *this* set, and re-configuring a locked unit
would let anyone who reaches the UART swap the secrets. So after a serial fault the server
stays not ready (503, ``/v2/health/ready`` false) until an operator resets the board (power
cycle or reset button); the next recovery attempt then configures it and fast-forwards it
over the UART, which takes about one vector time per position already served.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from dynamarks.host.driver import Backend
from dynamarks.host.errors import DynamarksError

log = logging.getLogger("dynamarks.serve")

#: Filler vectors per backend call while fast-forwarding a restarted unit.
FILLER_CHUNK = 4096


class ServedModel(Protocol):
    classes: int
    input_shape: tuple[int, ...]

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...


class UnitUnavailable(Exception):
    """The watermark unit cannot answer now (failed, recovering, or shut down)."""


class UnitSupervisor:
    """Owns the configured backend; see the module doc for the fault model."""

    def __init__(
        self,
        open_backend: Callable[[], Backend],
        *,
        retry_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        owns_backend: bool = True,
    ) -> None:
        self._open = open_backend
        self._owns = owns_backend
        self._retry_interval = retry_interval
        self._clock = clock
        self._backend: Backend | None = None
        self._last_attempt: float | None = None
        self.position = 0  # keystream high-water mark: positions used or written off
        self.errors = 0  # backend failures seen
        self.last_error: str | None = None
        self._closed = False
        backend = open_backend()  # a failure here is the caller's (the CLI's) error
        self.classes = backend.classes
        self.width = backend.width
        self._backend = backend

    @property
    def ready(self) -> bool:
        return self._backend is not None and not self._closed

    def alter(self, codes: np.ndarray) -> np.ndarray:
        """Pass ``codes`` int64[M, N] through the unit; positions advance by exactly M."""
        if self._backend is None and not self.recover():
            raise UnitUnavailable(self.last_error or "the watermark unit is not available")
        backend = self._backend
        assert backend is not None
        self.position += len(codes)  # written off even if the call fails half-way
        try:
            out = backend.process(codes)
        except Exception as exc:  # noqa: BLE001 - any failure of the device is a fault
            self._fail(exc)
            raise UnitUnavailable(self.last_error) from None
        return out

    def recover(self) -> bool:
        """Try to bring the unit back (at most once per ``retry_interval``); True if ready."""
        if self._closed:
            return False
        if self._backend is not None:
            return True
        now = self._clock()
        if self._last_attempt is not None and now - self._last_attempt < self._retry_interval:
            return False
        self._last_attempt = now
        try:
            backend = self._open()
        except Exception as exc:  # noqa: BLE001
            self.last_error = _reason("reopening the watermark unit failed", exc)
            log.warning("%s", self.last_error)
            return False
        try:
            if (backend.classes, backend.width) != (self.classes, self.width):
                raise DynamarksError("the restarted unit has another N or W")
            remaining = self.position - backend.position
            filler = np.zeros((min(FILLER_CHUNK, max(remaining, 1)), self.classes), np.int64)
            while remaining > 0:
                n = min(remaining, len(filler))
                backend.process(filler[:n])
                remaining -= n
        except Exception as exc:  # noqa: BLE001
            backend.close()
            self.last_error = _reason("fast-forwarding the restarted unit failed", exc)
            log.warning("%s", self.last_error)
            return False
        self._backend = backend
        self.last_error = None
        log.info("watermark unit restarted and fast-forwarded to the last position")
        return True

    def _fail(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = _reason("the watermark unit failed", exc)
        log.error("%s; batch refused, unit closed", self.last_error)
        backend, self._backend = self._backend, None
        self._last_attempt = self._clock()
        if backend is not None:
            try:
                backend.close()
            except Exception:  # noqa: BLE001 - it is already broken
                pass

    def close(self) -> None:
        """Stop answering; close the backend unless it was lent (``owns_backend=False``)."""
        self._closed = True
        backend, self._backend = self._backend, None
        if backend is not None and self._owns:
            backend.close()


def _reason(what: str, exc: BaseException) -> str:
    """One line for logs and 503 bodies: the exception type and its first line (backends
    never put payloads or parameters in their messages)."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{what}: {type(exc).__name__}" + (f": {first[:200]}" if first else "")
