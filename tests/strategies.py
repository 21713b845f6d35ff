"""Hypothesis strategies shared by the tests. The random parameter sets and vectors themselves
come from the one stimulus generator, :mod:`dynamarks.sim.vectors` (also what the cocotb
benches use); ``random_params`` and ``random_vectors`` are re-exported from there."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from dynamarks.host.params import Params
from dynamarks.sim.vectors import random_params, random_vectors

__all__ = ["params_and_vectors", "random_params", "random_vectors"]


@st.composite
def params_and_vectors(draw: st.DrawFn, max_m: int = 300) -> tuple[Params, np.ndarray]:
    seed = draw(st.integers(0, 2**32 - 1))
    classes = draw(st.integers(2, 16))
    width = draw(st.integers(10, 20))
    m = draw(st.integers(1, max_m))
    rng = np.random.default_rng(seed)
    params = random_params(rng, classes, width)
    return params, random_vectors(rng, m, params)
