"""The ``reference`` backend: the bit-exact numpy model (``ReferenceUnit``) behind the driver
interface. The oracle the other backends are compared with; ~1 M vectors/s for N = 10 on
fixed-point input. Float rows take the fused path of :mod:`dynamarks.host.alter_float`
(conversion, unit and back in one pass, bit-identical to the composition)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dynamarks.host.alter_float import alter_float
from dynamarks.host.driver import Backend, BackendError
from dynamarks.host.fixedpoint import check_rows
from dynamarks.host.params import Params
from dynamarks.host.reference import ReferenceUnit


class ReferenceBackend(Backend):
    """``open_backend("reference", params)``: no options."""

    name = "reference"

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self._params = params
        self._unit = ReferenceUnit(params)

    def _process(self, p: np.ndarray) -> np.ndarray:
        return self._unit.process(p)

    def alter_float(
        self, x: np.ndarray, progress: Callable[[int], None] | None = None, *, first_row: int = 0
    ) -> tuple[np.ndarray, int]:
        if self._closed:
            raise BackendError(f"the {self.name} backend is closed")
        x, sums = check_rows(x, self.classes, first_row)
        m = x.shape[0]
        out, altered = alter_float(self._params, x, sums, self._unit.keystream_words(m))
        self.position += m
        if progress is not None and m:
            progress(m)
        return out, altered

    def _close(self) -> None:
        self._unit = None
        self._params = None
