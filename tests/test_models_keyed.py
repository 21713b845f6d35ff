"""The keyed test: its exact null against enumeration of every key, its power against a
planted bias, and the favoured indices of both presets.

Oracles: the null distribution of T = Σ R_i is checked against brute-force enumeration of
all rank combinations; the validity of the p-value (P(p ≤ a) ≤ a under H0) against the
exhaustive list of keys for a fixed key-independent suspect; the power against a suspect
built by hand to prefer the favoured index.
"""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest
from scipy import stats

from dynamarks.host.params import keygen
from dynamarks.host.presets import PRESETS, concentrated_table, keygen_preset
from dynamarks.models.verification import (
    favoured_indices,
    keyed_queries_needed,
    keyed_scores,
    keyed_test,
    keyed_window,
    pick_sum_sf,
    rank_sum_cdf,
)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _victim(m: int, n: int, seed: int) -> np.ndarray:
    """A confident F_org: answers with a clear top class and structured runners-up."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (m, n))
    z[np.arange(m), rng.integers(0, n, m)] += 6.0
    return _softmax(z)


@pytest.mark.parametrize("ks", [(3,), (2, 3), (3, 3, 3), (4, 2, 5, 3), (9, 9, 9)])
def test_rank_sum_null_is_the_enumerated_distribution(ks):
    combos = list(itertools.product(*(range(1, k + 1) for k in ks)))
    sums = np.array([sum(c) for c in combos])
    for t in range(len(ks) - 1, sum(ks) + 2):
        assert rank_sum_cdf(ks, t) == pytest.approx(np.mean(sums <= t), abs=1e-12)


def test_rank_sum_cdf_extremes():
    assert rank_sum_cdf([9] * 10, 10) == pytest.approx(9.0 ** -10, rel=1e-9)
    assert rank_sum_cdf([9] * 10, 90) == pytest.approx(1.0)
    # 64 classes: the smallest p is 63^-64, still representable
    assert 0 < rank_sum_cdf([63] * 64, 64) < 1e-100


@pytest.mark.parametrize(("statistic", "window"), [("position-t", None), ("position-t", 0.95),
                                                   ("position", None), ("share", None)])
def test_p_value_is_valid_over_every_key(statistic, window):
    """Fix a suspect and F_org independent of the key; enumerate all keys (f_i ≠ i) of a
    4-class set: the fraction of keys with p ≤ a never exceeds a, and equals it at the
    p-values the test can produce when no two candidates' scores tie (the test is then exact;
    ties, which the position score's integer places make possible, only make it
    conservative)."""
    n, m = 4, 400
    p = _victim(m, n, 0)
    s = _softmax(np.log(p) + np.random.default_rng(1).normal(0, 0.7, p.shape))
    choices = [[j for j in range(n) if j != i] for i in range(n)]
    pv = np.array([keyed_test(s, p, np.array(f), statistic=statistic, window=window).p_value
                   for f in itertools.product(*choices)])
    assert len(pv) == 3 ** 4
    sc, _ = keyed_scores(s, p, n, statistic, window)
    tied = any(len(np.unique(r[np.isfinite(r)])) < n - 1 for r in sc)
    assert tied == (statistic == "position")  # this suspect has ties only in the places
    for a in np.unique(pv):
        frac = np.mean(pv <= a + 1e-12)
        if tied:
            assert frac <= a + 1e-12
        else:
            assert frac == pytest.approx(a, abs=1e-9)
    for a in (0.01, 0.05, 0.1, 0.5):
        assert np.mean(pv <= a) <= a + 1e-12


@pytest.mark.parametrize("statistic", ["position", "share"])
def test_rank_sum_null_by_simulation(statistic):
    """Ten classes, many random keys against one independent suspect: rejections at 5% stay
    at or below 5% (binomial bound); T is never stochastically smaller than its null (the
    empirical CDF stays below the exact one, within 3 binomial sd); and with the tie-free
    share score T has the exact null distribution (chi-square goodness of fit on T's values;
    the position score's ties shift T up, which only makes the test conservative)."""
    n, m = 10, 400
    p = _victim(m, n, 2)
    s = _softmax(np.log(p) + np.random.default_rng(3).normal(0, 1.0, p.shape))
    rng = np.random.default_rng(4)
    reps = 2000
    ts, pv = np.empty(reps, int), np.empty(reps)
    for r in range(reps):
        f = rng.integers(0, n - 1, n)
        f += f >= np.arange(n)
        k = keyed_test(s, p, f, statistic=statistic)
        ts[r], pv[r] = k.statistic, k.p_value
    # bins of T with ≥ 5% null mass each
    edges = [9]
    for t in range(10, 91):
        if rank_sum_cdf([9] * n, t) - rank_sum_cdf([9] * n, edges[-1]) >= 0.05:
            edges.append(t)
    edges[-1] = 90
    probs = np.diff([rank_sum_cdf([9] * n, t) for t in edges])
    pairs = zip(edges[:-1], edges[1:], strict=True)
    counts = np.array([np.sum((ts > lo) & (ts <= hi)) for lo, hi in pairs])
    for e in edges:
        cdf = rank_sum_cdf([9] * n, e)
        assert np.mean(ts <= e) <= cdf + 3 * np.sqrt(cdf * (1 - cdf) / reps) + 1e-12
    if statistic == "share":
        assert stats.chisquare(counts, probs * reps / probs.sum()).pvalue > 1e-3
    level = 0.05
    assert np.mean(pv <= level) <= level + 3 * np.sqrt(level * (1 - level) / reps)


def test_planted_bias_is_detected_and_independent_model_is_not():
    n, m = 10, 2000
    p = _victim(m, n, 5)
    params = keygen_preset("robust", n, seed=11)
    f = favoured_indices(params)
    top = p.argmax(1)
    logits = np.log(p) + np.random.default_rng(6).normal(0, 0.5, p.shape)
    planted = logits.copy()
    planted[np.arange(m), f[top]] += 0.5  # the surrogate learned "f_i is more likely"
    for stat in ("position-t", "position"):
        hit = keyed_test(_softmax(planted), p, f, statistic=stat)
        assert hit.ranks == [1] * n
        assert hit.p_value == pytest.approx(9.0 ** -10) == pytest.approx(hit.min_p)
    assert keyed_test(_softmax(planted), p, f, statistic="position").statistic == n
    miss = keyed_test(_softmax(logits), p, f)
    assert miss.p_value > 1e-3
    need = keyed_queries_needed(_softmax(planted), p, f, repeats=10)
    assert need["needed"]["0.05"] is not None and need["needed"]["0.05"] <= 500
    assert keyed_queries_needed(_softmax(logits), p, f, repeats=5)["needed"]["0.01"] is None


def test_scores_by_hand():
    p = np.array([[0.7, 0.2, 0.1], [0.8, 0.1, 0.1], [0.1, 0.1, 0.8]])
    s = np.array([[0.7, 0.1, 0.2], [0.8, 0.1, 0.1], [0.2, 0.2, 0.6]])
    sc, sizes = keyed_scores(s, p, 3, "share")
    assert sizes.tolist() == [2, 0, 1]
    # group 0: non-top shares (s: 1/3, 2/3 and 1/2, 1/2) minus (p: 2/3, 1/3 and 1/2, 1/2)
    assert sc[0, 1] == pytest.approx((1 / 3 - 2 / 3 + 0) / 2)
    assert sc[0, 2] == pytest.approx((2 / 3 - 1 / 3 + 0) / 2)
    assert np.isnan(sc[1]).all() and np.isnan(np.diag(sc)).all()
    assert sc[2, 0] == pytest.approx(0.0) and sc[2, 1] == pytest.approx(0.0)
    # the shipped score: places moved up among the non-top classes (0 = runner-up; equal
    # answers keep index order). Input 0: p orders (1, 2), s orders (2, 1): class 1 moves down
    # one place, class 2 up one; input 1: same order in both. Group 2: a tie in both.
    pos, sizes = keyed_scores(s, p, 3, "position")
    assert sizes.tolist() == [2, 0, 1]
    assert pos[0, 1] == pytest.approx(-0.5) and pos[0, 2] == pytest.approx(0.5)
    assert np.isnan(pos[1]).all() and np.isnan(np.diag(pos)).all()
    assert pos[2, 0] == 0.0 and pos[2, 1] == 0.0
    for stat in ("position", "share"):
        k = keyed_test(s, p, np.array([2, 0, 0]), statistic=stat)
        # class 0: favoured 2 scores highest of {1, 2}; class 1: no inputs; class 2: tie → 2
        assert k.classes_used == [0, 2] and k.ranks == [1, 2] and k.statistic == 3
        assert k.p_value == pytest.approx(0.75)  # P(R0 + R2 ≤ 3): (1,1), (1,2), (2,1) of four
    # the shipped t score: group 0's place changes are (−1, 0) for class 1 and (+1, 0) for
    # class 2: mean ∓0.5, sample sd √0.5, standard error 0.5 → t = ∓1; a one-input group has
    # no standard error and is left out
    t, _ = keyed_scores(s, p, 3, "position-t")
    assert t[0, 1] == pytest.approx(-1.0) and t[0, 2] == pytest.approx(1.0)
    assert np.isnan(t[2]).all()
    k = keyed_test(s, p, np.array([2, 0, 0]))
    assert k.classes_used == [0] and k.ranks == [1] and k.statistic == pytest.approx(1.0)
    assert k.p_value == pytest.approx(0.5)  # P(a uniform pick of {−1, +1} ≥ 1)
    # the window keeps only answers whose top probability is above it: input 0 (0.7) leaves
    # group 0, input 1 has both places unchanged
    w, sizes = keyed_scores(s, p, 3, "position", window=0.75)
    assert sizes.tolist() == [1, 0, 1] and w[0, 1] == 0.0 and w[0, 2] == 0.0
    w, sizes = keyed_scores(s, p, 3, "position", window=np.array([0.75, 0.0, 0.9]))
    assert sizes.tolist() == [1, 0, 0]
    with pytest.raises(ValueError, match="statistic"):
        keyed_scores(s, p, 3, "logit")


def test_position_score_ignores_monotone_changes_of_the_suspect():
    """Places depend only on the order of the suspect's answers: a sharper (power 3) or
    flatter (power 1/3) copy of the same suspect gets the same scores and the same p."""
    n, m = 10, 500
    p = _victim(m, n, 8)
    s = _softmax(np.log(p) + np.random.default_rng(9).normal(0, 0.5, p.shape))
    f = favoured_indices(keygen_preset("robust", n, seed=3))
    base, _ = keyed_scores(s, p, n)
    for power in (3.0, 1 / 3):
        t = s ** power
        t /= t.sum(1, keepdims=True)
        other, _ = keyed_scores(t, p, n)
        np.testing.assert_array_equal(np.isnan(other), np.isnan(base))
        assert np.allclose(other[np.isfinite(base)], base[np.isfinite(base)])
        assert keyed_test(t, p, f).p_value == keyed_test(s, p, f).p_value


def test_position_t_null_by_simulation():
    """The shipped statistic's p-value against many random keys of one independent suspect
    (window 0.9): exact, so P(p ≤ a) matches a within binomial bounds on both sides, and the
    p-values are uniform (Kolmogorov–Smirnov; 9^10 atoms are as good as continuous here)."""
    n, m = 10, 600
    p = _victim(m, n, 12)
    s = _softmax(np.log(p) + np.random.default_rng(13).normal(0, 1.0, p.shape))
    rng = np.random.default_rng(14)
    reps = 600
    pv = np.empty(reps)
    for r in range(reps):
        f = rng.integers(0, n - 1, n)
        f += f >= np.arange(n)
        pv[r] = keyed_test(s, p, f, window=0.9).p_value
    for level in (0.05, 0.2, 0.5):
        sd = np.sqrt(level * (1 - level) / reps)
        assert abs(np.mean(pv <= level) - level) <= 3.5 * sd
    assert stats.kstest(pv, "uniform").pvalue > 1e-3


def test_pick_sum_sf_by_enumeration():
    """The sum null against listing every combination (three classes of 4, 3 and 5 values)."""
    rng = np.random.default_rng(15)
    values = [rng.normal(size=k) for k in (4, 3, 5)]
    sums = np.array([sum(c) for c in itertools.product(*values)])
    for t in np.concatenate([sums[:20], [sums.min() - 1, sums.max() + 1]]):
        assert pick_sum_sf(values, t) == pytest.approx(np.mean(sums >= t - 1e-12), abs=1e-12)


def test_keyed_window_is_the_presets_lower_edge():
    for name in ("robust", "paper"):
        w = keyed_window(keygen_preset(name, 10, seed=2))
        assert w.shape == (10,)
        assert np.allclose(w, PRESETS[name].alpha, atol=1e-3)
    assert keyed_window(np.eye(3)) is None


def test_favoured_indices_of_both_presets():
    robust = keygen_preset("robust", 10, seed=1)
    v = robust.v_tables()
    f = favoured_indices(robust)
    for i in range(10):
        assert f[i] != i and v[i, i] == 0.0
        assert v[i, f[i]] == pytest.approx(PRESETS["robust"].concentration, abs=1e-4)
    paper = keygen(10, seed=3)
    vp, fp = paper.v_tables(), favoured_indices(paper)
    for i in range(10):
        fav = int(np.argmax(vp[i]))
        assert fp[i] == (fav if fav != i else -1)
        assert vp[i, fav] == pytest.approx(2 / 11, abs=1e-4)


def test_robust_favoured_index_is_uniform_over_the_other_classes():
    counts = np.zeros((4, 4))
    for seed in range(600):
        f = favoured_indices(keygen_preset("robust", 4, seed=seed))
        counts[np.arange(4), f] += 1
    assert np.all(np.diag(counts) == 0)
    for i in range(4):
        others = np.delete(counts[i], i)
        assert stats.chisquare(others).pvalue > 1e-3


def test_presets_encode_and_paper_preset_is_keygen():
    assert keygen_preset("paper", 10, seed=5).encode() == keygen(10, seed=5).encode()
    # Known answers recorded from the pre-preset keygen: the draw order never changed.
    digest = hashlib.sha256(keygen(10, seed=5).encode()).hexdigest()
    assert digest == "6e2d2f79e268b14852697a499f11f57952a34780c13d3bd7b619398f2db1afad"
    digest = hashlib.sha256(keygen(4, 12, alpha=0.8, a=0.05, b=0.25, seed=3).encode()).hexdigest()
    assert digest == "e71264e50d1fca2490eceaf57e975be77b9ebc84c408850d3f57d0f3729fe1c4"
    r = keygen_preset("robust", 10, 16, seed=5)
    assert type(r).decode(r.encode()).encode() == r.encode()
    # Known answer of the robust preset (α 0.8, Δ U[0.05, 0.25), V_i 0.9 on f_i): pins its
    # values and the draw order; the robust values themselves, against their Q1.15 codes:
    digest = hashlib.sha256(r.encode()).hexdigest()
    assert digest == "67428f93b55073c32ad3fc0a6e200a6ad6f066b6bc445bce70f06e8c4cb94bf7"
    one = 1 << 15
    assert r.alpha == (round(0.8 * one),) * 10 and r.beta == (one + 1,) * 10
    assert r.a == (round(0.05 * one),) * 10 and r.b == (round(0.25 * one),) * 10
    v = r.v_tables()
    assert np.allclose(np.sort(v, axis=1)[:, -1], 0.9, atol=1e-3)
    assert np.allclose(np.sort(v, axis=1)[:, 2:-1], 0.1 / 8, atol=1e-3)
    assert concentrated_table(10, 3, 7, 0.6)[3] == 0.0
    assert sum(concentrated_table(10, 3, 7, 0.6)) == pytest.approx(1.0)
    for n in (2, 3, 64):
        keygen_preset("robust", n, seed=1)
