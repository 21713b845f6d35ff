"""The exact null of the magnitude variants of the keyed test (models/keyed_variants.py).

Oracle: brute-force enumeration of every combination of picks (itertools.product), and the
validity of the p-value over every key of a small class set.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dynamarks.models.keyed_variants import pick_sum_sf, variant_p


def _enumerated_sf(values, t):
    sums = np.array([sum(c) for c in itertools.product(*values)])
    return float(np.mean(sums >= t - 1e-9))


@pytest.mark.parametrize("sizes", [(3,), (2, 3), (4, 4, 4), (3, 5, 2, 4), (5, 5, 5, 5, 5)])
def test_pick_sum_sf_is_the_enumerated_tail(sizes):
    rng = np.random.default_rng(len(sizes))
    values = [rng.normal(size=k) for k in sizes]
    sums = [sum(c) for c in itertools.product(*values)]
    for t in list(np.quantile(sums, [0.0, 0.01, 0.3, 0.7, 1.0])) + [min(sums) - 1, max(sums) + 1]:
        assert pick_sum_sf(values, t) == pytest.approx(_enumerated_sf(values, t), abs=1e-12)


def test_pick_sum_sf_ties_count_against_detection():
    values = [np.array([0.0, 1.0, 1.0])] * 3
    assert pick_sum_sf(values, 3.0) == pytest.approx(8 / 27)  # every pick a 1: 2^3 of 3^3
    assert pick_sum_sf(values, 0.0) == 1.0


def test_grid_fallback_is_a_conservative_bound():
    rng = np.random.default_rng(7)
    values = [rng.normal(size=4) for _ in range(6)]
    sums = [sum(c) for c in itertools.product(*values)]
    for t in np.quantile(sums, [0.5, 0.9, 0.99, 0.999]):
        exact = _enumerated_sf(values, t)
        bound = pick_sum_sf(values, t, max_half=8, grid=4096)
        assert exact - 1e-12 <= bound <= exact + 0.02


def test_magnitude_variant_is_valid_over_every_key():
    """A suspect independent of the key: over all keys of a 4-class set (f_i ≠ i), the
    fraction with p ≤ a stays ≤ a for the magnitude, t and position variants."""
    rng = np.random.default_rng(3)
    m, n = 400, 4
    z = rng.normal(0, 1.5, (m, n))
    z[np.arange(m), rng.integers(0, n, m)] += 5.0
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    s = np.exp(np.log(p) + rng.normal(0, 0.7, p.shape))
    s /= s.sum(1, keepdims=True)
    keys = list(itertools.product(*[[j for j in range(n) if j != i] for i in range(n)]))
    for kind in ("magnitude", "t", "position"):
        ps = np.array([variant_p(s, p, np.array(k), kind) for k in keys])
        for a in (1 / 81, 0.05, 0.2, 0.5):
            assert np.mean(ps <= a + 1e-12) <= a + 1e-9
