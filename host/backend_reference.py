"""The ``reference`` backend: the bit-exact numpy model (``ReferenceUnit``) behind the driver
interface. The oracle the other backends are compared with; ~1 M vectors/s for N = 10."""

from __future__ import annotations

import numpy as np

from dynamarks.host.driver import Backend
from dynamarks.host.params import Params
from dynamarks.host.reference import ReferenceUnit


class ReferenceBackend(Backend):
    """``open_backend("reference", params)``: no options."""

    name = "reference"

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self._unit = ReferenceUnit(params)

    def _process(self, p: np.ndarray) -> np.ndarray:
        return self._unit.process(p)

    def _close(self) -> None:
        self._unit = None
