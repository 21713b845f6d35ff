"""Algorithm 2: histograms, JSD, δ and η against hand-computed cases and properties; the
calibrated decision (FPR, p-values, subsampling, queries needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dynamarks.models.verification import (
    BINS,
    algorithm2,
    bootstrap_eta,
    calibrate,
    histograms,
    jsd,
    queries_needed,
)


def test_histograms_by_hand():
    probs = np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
    h = histograms(probs, np.array([0, 0, 1]), classes=2, bins=2)
    # bins [0, .5) and [.5, 1]; D[y][j] collects output j over the inputs of label y
    assert h.tolist() == [[[1, 1], [0, 2]], [[0, 1], [1, 0]]]
    assert histograms(probs, np.array([0, 0, 1]), 2).shape == (2, 2, BINS)


def test_jsd_by_hand():
    assert jsd(np.array([3.0, 1.0]), np.array([6.0, 2.0])) == pytest.approx(0.0, abs=1e-12)
    assert jsd(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)  # one bit
    # P = (1, 0), Q = (1/2, 1/2): ½·log2(4/3) + ¼·log2(2/3) + ¼·log2(2)
    expected = 0.5 * math.log2(4 / 3) + 0.25 * math.log2(2 / 3) + 0.25
    assert jsd(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(expected)
    # symmetric, and an empty histogram carries no evidence
    a, b = np.array([1.0, 2.0, 3.0]), np.array([3.0, 0.0, 1.0])
    assert jsd(a, b) == pytest.approx(jsd(b, a))
    assert jsd(np.zeros(3), b) == 0.0


def _outputs(m=2000, classes=4, seed=0):
    """F_org confident (top ~0.99), F_alt with the top lowered by U(0.01, 0.19) into class j."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, m)
    p = np.full((m, classes), 0.01 / (classes - 1))
    p[np.arange(m), y] = 0.99
    q = p.copy()
    d = rng.uniform(0.01, 0.19, m)
    j = (y + rng.integers(1, classes, m)) % classes
    q[np.arange(m), y] -= d
    q[np.arange(m), j] += d
    return p, q, y


def test_eta_of_identical_models():
    p, q, y = _outputs()
    v_org = algorithm2(p, p, q, y, 4)  # the suspect is F_org itself
    assert v_org.delta_org == 0.0 and v_org.eta == 0.0 and not v_org.detected
    v_alt = algorithm2(q, p, q, y, 4)  # the suspect answers exactly like F_alt
    assert v_alt.delta_alt == 0.0 and v_alt.eta == math.inf and v_alt.detected
    # swapping the roles of F_org and F_alt inverts η
    rng = np.random.default_rng(1)
    s = 0.5 * (p + q) + rng.uniform(0, 0.02, p.shape)
    s /= s.sum(1, keepdims=True)
    a, b = algorithm2(s, p, q, y, 4), algorithm2(s, q, p, y, 4)
    assert a.eta == pytest.approx(1 / b.eta)
    assert a.delta_org == pytest.approx(b.delta_alt)
    # δ is a sum of N² divergences of at most one bit each
    assert 0 <= a.delta_org <= 16 and 0 <= a.delta_alt <= 16
    assert np.asarray(a.jsd_org).shape == (4, 4)


def test_eta_orders_a_stolen_and_a_benign_model():
    p, q, y = _outputs()
    rng = np.random.default_rng(2)
    m = len(y)
    stolen = q + rng.normal(0, 0.01, q.shape)  # learned F_alt's shifted top probability
    stolen = np.clip(stolen, 1e-4, None)
    stolen /= stolen.sum(1, keepdims=True)
    benign = np.full_like(p, 0.002)  # a confident independent model
    benign[np.arange(m), y] = 1 - 0.002 * 3
    vs, vb = algorithm2(stolen, p, q, y, 4), algorithm2(benign, p, q, y, 4)
    assert vs.eta > 1 > vb.eta
    bs = bootstrap_eta(stolen, p, q, y, 4, resamples=50)
    bb = bootstrap_eta(benign, p, q, y, 4, resamples=50)
    assert bs.p_boot == 0.0 and bs.low > 1 and bs.eta == vs.eta
    assert bb.p_boot == 1.0 and bb.high < 1
    qs = queries_needed(stolen, p, q, y, 4, watermarked=True, resamples=30)
    qb = queries_needed(benign, p, q, y, 4, watermarked=False, resamples=30)
    assert qs["needed"] is not None and qs["needed"] <= 1000
    assert qb["needed"] is not None
    assert [c["queries"] for c in qs["curve"]] == [50, 100, 200, 500, 1000]


def test_calibration_by_hand():
    cal = calibrate([0.2, 0.5, 1.5, 0.3])
    assert cal.false_positives == 1 and cal.fpr == 0.25
    assert 0.25 < cal.fpr_upper95 < 1
    logs = np.log([0.2, 0.5, 1.5, 0.3])
    assert cal.log_mean == pytest.approx(logs.mean())
    assert cal.log_std == pytest.approx(logs.std(ddof=1))
    pv = cal.p_values(10.0)
    assert pv["p_empirical"] == pytest.approx(1 / 5)  # no benign η reaches 10
    assert pv["p_lognormal"] < 0.01
    assert cal.p_values(0.3)["p_empirical"] == pytest.approx(4 / 5)  # 0.3, 0.5 and 1.5 ≥ 0.3
    assert cal.tau_fpr_1pct > max(cal.benign_etas)
    with pytest.raises(ValueError):
        calibrate([0.5])
