"""Float ↔ fixed conversion (SPEC §2)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamarks.host.errors import InputError
from dynamarks.host.fixedpoint import to_fixed, to_float


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 64), st.integers(10, 24), st.floats(0.1, 20))
def test_sum_exact_and_within_one_lsb(seed: int, n: int, w: int, temp: float) -> None:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(50, n)) * temp
    x = np.exp(z - z.max(axis=1, keepdims=True))
    x /= x.sum(axis=1, keepdims=True)
    one = 1 << (w - 1)
    p = to_fixed(x, w)
    assert p.dtype == np.int64
    assert (p.sum(axis=1) == one).all()
    assert (np.abs(p - x * one) < 1.0 + 1e-9).all()
    assert p.min() >= 0 and p.max() <= one


def test_exact_values_survive_roundtrip() -> None:
    p = np.array([[16384, 8192, 8192, 0], [32768, 0, 0, 0]])
    assert (to_fixed(to_float(p)) == p).all()
    assert (to_float(p).sum(axis=1) == 1.0).all()


def test_ties_go_to_the_lowest_index() -> None:
    x = np.full((1, 3), 1 / 3)
    p = to_fixed(x, 16)
    assert p.tolist() == [[10923, 10923, 10922]]


@pytest.mark.parametrize(
    "x, why",
    [
        ([[0.5, np.nan, 0.5]], "NaN or Inf"),
        ([[0.5, np.inf, 0.5]], "NaN or Inf"),
        ([[1.2, -0.2, 0.0]], "negative"),
        ([[0.5, 0.4, 0.0]], "sums to"),
        ([[0.5, 0.5]], "expected 3 classes"),
        ([[[0.5, 0.5]]], "2-D"),
        ([["a", "b", "c"]], "real numbers"),
    ],
)
def test_bad_rows_refused(x, why) -> None:
    with pytest.raises(InputError, match=why):
        to_fixed(np.array(x) if not isinstance(x[0][0], str) else np.array(x, dtype=object), 16,
                 classes=3)


def test_error_names_the_first_bad_row() -> None:
    x = np.full((5, 2), 0.5)
    x[3] = [0.9, 0.9]
    with pytest.raises(InputError, match="row 3"):
        to_fixed(x)
