"""The ``rtl`` backend: the WatermarkUnit's Verilog, compiled with Verilator, driven in batches.

``open_backend("rtl", params, **opts)`` wraps the batch harness
:mod:`dynamarks.host.verilated_unit` (the generated Verilog of ``WatermarkUnit(classes=N,
width=W)`` compiled by Verilator into a shared library with a C++ loop that streams a whole
batch of vectors through the unit's sink and collects its source, so Python is called once
per batch, not once per clock). Options: ``build_dir`` (where the Verilator build is cached,
default ``build/verilator``) and ``lock`` (strobe the unit's ``cfg_lock`` after configuring,
as the board does). The first open for a given (N, W) compiles the design (about a minute on
two cores); later ones load the cached library in milliseconds.

Configuration goes through the unit's config port exactly as the board's CONFIGURE does:
the words of ``Params.config_words()`` at their addresses, then ``cfg_start`` (Trivium
warm-up, keystream position 0); after that every vector consumes one keystream word, so
the outputs are bit-identical to the reference for the same parameters and positions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dynamarks.host.driver import Backend, BackendError
from dynamarks.host.params import Params


def _harness():
    from dynamarks.host import verilated_unit

    return verilated_unit


class RtlBackend(Backend):
    """See the module docstring."""

    name = "rtl"
    max_batch = 1 << 17

    def __init__(
        self, params: Params, *, build_dir: str | None = None, lock: bool = False
    ) -> None:
        super().__init__(params)
        vu = _harness()
        try:
            self._unit = vu.VerilatedUnit(params.classes, params.width, build_dir=build_dir)
        except Exception as exc:  # toolchain missing or build failure: says what to install
            raise BackendError(f"cannot build or load the Verilated unit: {exc}") from None
        try:
            self._unit.configure(params, lock=lock)
        except vu.HarnessError as exc:
            self._unit.close()
            raise BackendError(f"the Verilated unit refused its configuration: {exc}") from None
        except BaseException:
            self._unit.close()
            raise

    def _process(self, p: np.ndarray) -> np.ndarray:
        from dynamarks.host.verilated_unit import HarnessError

        try:
            return np.asarray(self._unit.process(p), dtype=np.int64)
        except HarnessError as exc:
            raise BackendError(f"the Verilated unit failed: {exc}") from None

    def counters(self) -> dict[str, Any]:
        """The unit's vectors_in / vectors_out / rejected counters (nothing secret)."""
        return self._unit.counters()

    def _close(self) -> None:
        self._unit.close()
