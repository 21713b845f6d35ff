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
    assert p.min() >= 0 and p.max() <= one
    # Within one LSB, except the two entries that step 5 moved (within two).
    lr = np.array([literal_largest_remainder(row * one, one) for row in x])
    moved = (p != lr).any(axis=1)
    assert (np.abs(lr - x * one) < 1.0 + 1e-9).all()
    assert (np.abs(p - x * one)[~moved] < 1.0 + 1e-9).all()
    assert (np.abs(p - x * one) < 2.0 + 1e-9).all()
    assert ((p != lr).sum(axis=1)[moved] == 2).all()


def literal_largest_remainder(q: np.ndarray, one: int) -> list[int]:
    """SPEC §2 steps 3-4 for one row, written from the text (Python sort, not numpy)."""
    f = [int(np.floor(v)) for v in q]
    r = one - sum(f)
    order = sorted(range(len(q)), key=lambda k: (-(q[k] - f[k]), k))
    for k in order[:r]:
        f[k] += 1
    return f


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 64), st.integers(10, 24),
       st.floats(0.0, 2.0), st.data())
def test_unique_float_top1_survives_quantization(seed, n, w, gap_lsb, data) -> None:
    """SPEC §2 step 5 on near-tied rows: the two largest entries less than two LSB apart."""
    one = 1 << (w - 1)
    rng = np.random.default_rng(seed)
    x = rng.random(n) * rng.random()
    k, j = data.draw(st.permutations(range(n)))[:2]
    top = max(x.max(), 1.0 / n) + rng.random() / n
    x[k], x[j] = top, top - gap_lsb / one * x.sum()
    x = np.clip(x, 0, None)
    x = x / x.sum()
    p = to_fixed(x[None, :], w)[0]
    assert p.sum() == one
    if (x == x.max()).sum() == 1:
        assert int(np.argmax(p)) == int(np.argmax(x))


def test_step5_known_answers() -> None:
    """Rows computed by hand (W = 10, ONE = 512) where the largest remainder alone gives the
    top-1 to a lower index; step 5 moves one LSB to the float row's top-1."""
    # q = [200.1, 200.2, 111.7]: floors 511, R = 1 -> [200, 200, 112]; argmax 0, float 1.
    x = np.array([[200.1, 200.2, 111.7]]) / 512
    assert to_fixed(x, 10).tolist() == [[199, 201, 112]]
    # q = [200.7, 200.8, 110.5]: floors 510, R = 2 -> [201, 201, 110]; argmax 0, float 1.
    x = np.array([[200.7, 200.8, 110.5]]) / 512
    assert to_fixed(x, 10).tolist() == [[200, 202, 110]]
    # an exact float tie keeps the lowest index (no step 5)
    x = np.array([[200.5, 200.5, 111.0]]) / 512
    assert to_fixed(x, 10).tolist() == [[201, 200, 111]]


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
