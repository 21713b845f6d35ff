"""The fused float-row path (dynamarks.host.alter_float, C) against the numpy composition
to_fixed → reference.alter → to_float that it replaces: bit for bit, with the altered count,
on random parameter sets, realistic rows, near-tied rows and exact ties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamarks.host.alter_float import COMPILED, alter_float
from dynamarks.host.fixedpoint import check_rows, to_fixed, to_float
from dynamarks.host.reference import alter
from dynamarks.host.synthetic import realistic_softmax
from tests.strategies import random_params


def test_the_compiled_core_is_built() -> None:
    assert COMPILED, "dynamarks.host._alter_core is not built: run `pip install -e .`"


def rows(rng: np.random.Generator, m: int, n: int, one: int) -> np.ndarray:
    """Realistic rows, then near ties (top two < 2 LSB apart), exact ties and one-hot rows."""
    x, _ = realistic_softmax(m, n, rng)
    x = x.copy()
    k = rng.integers(0, n, m)
    j = (k + 1 + rng.integers(0, n - 1, m)) % n
    near = rng.random(m) < 0.3
    top = x.max(axis=1)
    x[near, j[near]] = top[near] - rng.random(near.sum()) * 2 / one
    x[rng.random(m) < 0.05] = 1.0 / n
    onehot = rng.random(m) < 0.05
    x[onehot] = 0.0
    x[onehot, k[onehot]] = 1.0
    x = np.clip(x, 0, None)
    return x / x.sum(axis=1, keepdims=True)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 64), st.integers(10, 24))
def test_fused_path_is_bit_exact(seed: int, n: int, w: int) -> None:
    rng = np.random.default_rng(seed)
    params = random_params(rng, n, w)
    x = rows(rng, 400, n, params.one)
    words = rng.integers(0, 2**32, len(x), dtype=np.uint32)
    xc, sums = check_rows(x)
    detail = alter(params, to_fixed(x, w), words)
    expect = to_float(detail.out, w)
    for compiled in (True, False):
        out, altered = alter_float(params, xc, sums, words, compiled=compiled)
        assert np.array_equal(out, expect)
        assert altered == int(detail.altered.sum())


def test_shapes_are_checked() -> None:
    params = random_params(np.random.default_rng(0), 4, 16)
    x = np.full((3, 4), 0.25)
    with pytest.raises(ValueError):
        alter_float(params, x, np.ones(2), np.zeros(3, np.uint32))
    with pytest.raises(ValueError):
        alter_float(params, np.full((3, 5), 0.2), np.ones(3), np.zeros(3, np.uint32))
