"""Watermark verification: the paper's Algorithm 2 and a calibrated decision around it.

Algorithm 2 (paper, Section IV-B). For a labelled verification set V = {(x, y)} and the
outputs s = F_sm(x), p = F_org(x), q = F_alt(x):

* response matrices: ``R[y][j]`` is the list of output j over the inputs of true label y;
* distributions ``D[y][j]``: the *histogram* of ``R[y][j]`` over fixed bins. Binning used
  here: ``BINS = 50`` equal-width bins on [0, 1] (bin k = [k/50, (k+1)/50), the last bin
  closed at 1.0). Fixed bins put the three models on the same support, which the
  Jensen–Shannon divergence needs; 50 bins of width 0.02 resolve the watermark's shift
  (Δ ~ U(0.01, 0.19) moves the top probability by 0.1 on average, five bins) while keeping
  ≈ 20 samples per bin for the 1,000 test images of a class. An empty list (a class absent from
  V) contributes nothing. Probabilities are clipped to [0, 1] first (float rounding).
* ``JSD(P || Q)`` = ``scipy.spatial.distance.jensenshannon(P, Q, base=2) ** 2`` — the
  Jensen–Shannon *divergence* in bits, in [0, 1] (scipy returns its square root, the distance);
* ``δ_org = Σ_ij JSD(D_org[i][j] || D_sm[i][j])``, ``δ_alt = Σ_ij JSD(D_alt || D_sm)``, each at
  most N² (100 for ten classes);
* ``η = δ_org / δ_alt``; the watermark is detected when ``η > τ`` (paper: τ = 1).

Beyond the paper (the statistics a court or a reviewer would ask for):

* ``bootstrap_eta`` — recompute η on random half-size subsets of the verification queries
  (subsampling without replacement): a 1%–99% interval, and ``p_boot`` = fraction of subsets
  with η ≤ τ, a resampling test of H0 "η ≤ τ" (the suspect is no closer to F_alt than to
  F_org), conservative for the full set;
* ``calibrate`` — from the η of *benign* models (trained independently: other seeds, other
  data fractions, true labels, or distilled from the unprotected F_org): the false-positive rate
  of τ with a Clopper–Pearson 95% upper bound, a log-normal fit of benign η, the threshold that
  keeps the fitted false-positive rate at 1%, and per-suspect p-values (empirical
  (1 + #{benign η ≥ η_s}) / (n + 1) and the log-normal tail);
* ``queries_needed`` — the smallest number of verification queries at which the subsampling
  distribution's one-sided 99% bound is on the right side of τ (for a suspect: 1st
  percentile of η > τ; for a benign model: 99th percentile < τ).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

BINS = 50
TAU = 1.0
JSD_BASE = 2


def histograms(
    probs: np.ndarray, labels: np.ndarray, classes: int, bins: int = BINS
) -> np.ndarray:
    """D[y, j, k]: counts of output j in bin k over the inputs of label y, float64[N, N, bins]."""
    probs = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    labels = np.asarray(labels, dtype=np.int64)
    m, n = probs.shape
    if n != classes or labels.shape != (m,):
        raise ValueError(
            f"need probs [M, {classes}] and labels [M], got {probs.shape}, {labels.shape}"
        )
    k = np.minimum((probs * bins).astype(np.int64), bins - 1)
    flat = (labels[:, None] * classes + np.arange(classes)[None, :]) * bins + k
    return np.bincount(flat.ravel(), minlength=classes * classes * bins).reshape(
        classes, classes, bins
    ).astype(np.float64)


def jsd(h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
    """JSD(h1 || h2) in bits along the last axis (histograms are normalised by scipy).

    Pairs where either histogram is empty (no samples) give 0: they carry no evidence.
    """
    h1 = np.asarray(h1, dtype=np.float64)
    h2 = np.asarray(h2, dtype=np.float64)
    empty = (h1.sum(-1) == 0) | (h2.sum(-1) == 0)
    safe1 = np.where(empty[..., None], 1.0, h1)
    safe2 = np.where(empty[..., None], 1.0, h2)
    d = jensenshannon(safe1, safe2, base=JSD_BASE, axis=-1) ** 2
    return np.where(empty, 0.0, np.nan_to_num(d, nan=0.0))


@dataclass(frozen=True)
class Verdict:
    """Result of Algorithm 2 for one suspect model."""

    delta_org: float
    delta_alt: float
    eta: float
    tau: float
    detected: bool
    queries: int
    jsd_org: list[list[float]] = field(repr=False)
    jsd_alt: list[list[float]] = field(repr=False)

    def summary(self) -> dict[str, float | bool | int]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("jsd_")}


def eta_from_hists(hs: np.ndarray, hp: np.ndarray, hq: np.ndarray) -> tuple[float, float, float]:
    """(δ_org, δ_alt, η) from the suspect's, F_org's and F_alt's histograms."""
    d_org = float(jsd(hp, hs).sum())
    d_alt = float(jsd(hq, hs).sum())
    return d_org, d_alt, _ratio(d_org, d_alt)


def _ratio(d_org: float, d_alt: float) -> float:
    if d_alt > 0:
        return d_org / d_alt
    return float("inf") if d_org > 0 else 1.0


def algorithm2(
    s: np.ndarray,
    p: np.ndarray,
    q: np.ndarray,
    labels: np.ndarray,
    classes: int,
    tau: float = TAU,
    bins: int = BINS,
) -> Verdict:
    """Algorithm 2 on precomputed outputs s (suspect), p (F_org), q (F_alt) and true labels."""
    hs, hp, hq = (histograms(a, labels, classes, bins) for a in (s, p, q))
    j_org, j_alt = jsd(hp, hs), jsd(hq, hs)
    d_org, d_alt = float(j_org.sum()), float(j_alt.sum())
    eta = _ratio(d_org, d_alt)
    return Verdict(
        d_org, d_alt, eta, tau, bool(eta > tau), int(len(labels)), j_org.tolist(), j_alt.tolist()
    )


@dataclass(frozen=True)
class Bootstrap:
    """Subsampling distribution of η over the verification queries."""

    eta: float  # η on all queries
    low: float  # 1st percentile of η over subsamples
    median: float
    high: float  # 99th percentile
    p_boot: float  # fraction of subsamples with η <= τ
    resamples: int
    queries: int  # subsample size


def bootstrap_eta(
    s: np.ndarray,
    p: np.ndarray,
    q: np.ndarray,
    labels: np.ndarray,
    classes: int,
    *,
    resamples: int = 200,
    size: int | None = None,
    tau: float = TAU,
    seed: int = 0,
    bins: int = BINS,
) -> Bootstrap:
    """η on ``resamples`` random subsets of ``size`` queries (default half of them).

    Subsets are drawn *without* replacement (subsampling, Politis & Romano): resampling with
    replacement duplicates queries, which sharpens the histograms and biases the plug-in JSD,
    so its percentiles need not even contain η. With half of the queries the spread is wider
    than that of the full set, so ``low``/``p_boot`` are conservative for a decision on all
    queries, and exact for a decision on ``size`` queries.
    """
    rng = np.random.default_rng(seed)
    m = len(labels)
    size = max(1, m // 2) if size is None else min(size, m)
    etas = np.empty(resamples)
    for b in range(resamples):
        idx = rng.choice(m, size, replace=False)
        lab = labels[idx]
        etas[b] = eta_from_hists(*(histograms(a[idx], lab, classes, bins) for a in (s, p, q)))[2]
    return Bootstrap(
        eta=algorithm2(s, p, q, labels, classes, tau, bins).eta,
        low=float(np.quantile(etas, 0.01)),
        median=float(np.median(etas)),
        high=float(np.quantile(etas, 0.99)),
        p_boot=float(np.mean(etas <= tau)),
        resamples=resamples,
        queries=size,
    )


def queries_needed(
    s: np.ndarray,
    p: np.ndarray,
    q: np.ndarray,
    labels: np.ndarray,
    classes: int,
    *,
    watermarked: bool,
    sizes: Sequence[int] = (50, 100, 200, 500, 1000, 2000, 5000),
    resamples: int = 100,
    tau: float = TAU,
    seed: int = 0,
) -> dict[str, object]:
    """Smallest query count whose bootstrap 99% one-sided bound clears τ (see module doc).

    Returns ``{"needed": n or None, "curve": [{"queries", "low", "median", "high"}, ...]}``.
    """
    curve: list[dict[str, float]] = []
    needed = None
    for n in sizes:
        if n > len(labels) // 2:  # beyond half, subsets overlap too much to vary
            break
        bs = bootstrap_eta(s, p, q, labels, classes, resamples=resamples, size=n, tau=tau,
                           seed=seed + n)
        curve.append({"queries": n, "low": bs.low, "median": bs.median, "high": bs.high})
        ok = bs.low > tau if watermarked else bs.high < tau
        if ok and needed is None:
            needed = n
    return {"needed": needed, "confidence": 0.99, "curve": curve}


@dataclass(frozen=True)
class Calibration:
    """The benign-model reference distribution of η and the decision statistics it gives."""

    benign_etas: list[float]
    tau: float
    false_positives: int
    fpr: float
    fpr_upper95: float
    log_mean: float
    log_std: float
    tau_fpr_1pct: float

    def p_values(self, eta: float) -> dict[str, float]:
        """Empirical and log-normal p-values of H0 "the suspect is a benign model"."""
        etas = np.asarray(self.benign_etas)
        emp = (1 + int(np.sum(etas >= eta))) / (len(etas) + 1)
        z = (np.log(max(eta, 1e-12)) - self.log_mean) / self.log_std
        return {"p_empirical": float(emp), "p_lognormal": float(stats.norm.sf(z)), "z": float(z)}


def calibrate(benign_etas: Sequence[float], tau: float = TAU) -> Calibration:
    """Calibration from the η of independently trained benign models (at least two)."""
    etas = np.asarray(benign_etas, dtype=np.float64)
    if len(etas) < 2:
        raise ValueError("calibration needs the η of at least two benign models")
    n, fp = len(etas), int(np.sum(etas > tau))
    upper = float(stats.beta.ppf(0.95, fp + 1, n - fp)) if fp < n else 1.0
    logs = np.log(np.maximum(etas, 1e-12))
    mu, sd = float(logs.mean()), float(max(logs.std(ddof=1), 1e-6))
    return Calibration(
        benign_etas=etas.tolist(),
        tau=tau,
        false_positives=fp,
        fpr=fp / n,
        fpr_upper95=upper,
        log_mean=mu,
        log_std=sd,
        tau_fpr_1pct=float(np.exp(mu + stats.norm.ppf(0.99) * sd)),
    )
