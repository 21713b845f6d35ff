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


# ==== the keyed test ========================================================================
#
# Statistic, null and limits: docs/VERIFICATION.md ("The keyed test"). In short: group the
# verification inputs by F_org's top class i; in every group, score each non-top class j by
# how many places the suspect moves j up among the non-top classes against F_org (mean over
# the group of j's position in F_org's descending order of the non-top classes minus its
# position in the suspect's: the "position change"); R_i is the rank of the key's favoured
# index f_i among those N−1 scores (1 = highest). If the suspect is independent of the key,
# f_i is uniform over the N−1 candidates and independent of the scores, so R_i is uniform on
# 1..N−1 and the R_i of different classes are independent (keygen draws the f_i
# independently). T = Σ R_i then has an exactly computable null distribution (a convolution of
# discrete uniforms) and p = P0(T ≤ t_obs). ``statistic="share"`` scores j by the change of
# its renormalised non-top share instead (the test shipped before; kept, same null, for the
# comparison in docs/VERIFICATION.md and models/keyed_variants.py).
#
# ``statistic="position-t"`` (shipped since the full-profile round) keeps the position change
# but scores j by its *t value* — the group mean of the per-input place change divided by its
# standard error — over the inputs whose F_org top probability is above the window's lower
# edge α_i (the answers the protected API alters; α_i is the preset's constant, drawn
# independently of f_i), and sums the favoured index's t values over the classes:
# T = Σ_i t_i(f_i). Under H0, f_i is still uniform over class i's candidates and independent
# of every t value, so T is a sum of independent picks, one uniform over each class's own
# N−1 values: its exact null is computed by :func:`pick_sum_sf` (all (N−1)^N key combinations
# counted by meeting in the middle) and p = P0(T ≥ t_obs). The floor is the same as the rank
# sum's (Π 1/k_i); what changes is that a favoured index far ahead in some classes makes up
# for one only second in another.

KEYED_STATISTICS = ("position-t", "position", "share")
RANK_STATISTICS = ("position", "share")

def favoured_indices(params: object) -> np.ndarray:
    """f_i for every class: the index V_i favours, int64[N]; −1 where V_i has no favoured
    index other than i (the paper's table when keygen drew i itself, or a flat table).

    ``params`` is a :class:`dynamarks.host.params.Params` (anything with ``v_tables()``) or a
    float64[N, N] table of V_i rows.
    """
    v = np.asarray(params.v_tables() if hasattr(params, "v_tables") else params, dtype=np.float64)
    n = v.shape[0]
    out = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        row = v[i]
        top = np.flatnonzero(row == row.max())
        if len(top) == 1 and top[0] != i:
            out[i] = int(top[0])
    return out


def keyed_scores(s: np.ndarray, p: np.ndarray, classes: int,
                 statistic: str = "position-t",
                 window: float | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(scores float64[N, N], group sizes int64[N]).

    ``scores[i, j]`` summarises, over the inputs with F_org top class i, a per-input change of
    class j (j ≠ i) from F_org's answer p to the suspect's s:

    * ``"position-t"`` (the shipped test): the t value (mean / standard error over the group)
      of j's place in F_org's descending order of the non-top classes minus its place in the
      suspect's (0 = runner-up); groups need two inputs. Invariant under any strictly
      increasing map of the suspect's answers (a sharper or flatter thief);
    * ``"position"``: the mean of the same place change (how many places the suspect moves j
      up on average);
    * ``"share"``: the mean of s̃_j − p̃_j, with s̃, p̃ the answers with entry i removed and
      the rest renormalised to sum 1.

    ``window`` (a float or float[N], one per top class): only inputs whose F_org top
    probability is above it enter group i (the answers the protected API alters); None: all.
    NaN on the diagonal and for groups too small to score. Uses no secret but the window
    (drawn independently of the favoured indices): under H0 the scores are independent of f.
    """
    s = np.asarray(s, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if s.shape != p.shape or s.ndim != 2 or s.shape[1] != classes:
        raise ValueError(f"need s and p of shape [M, {classes}], got {s.shape} and {p.shape}")
    if statistic not in KEYED_STATISTICS:
        raise ValueError(f"unknown keyed statistic {statistic!r} (one of {KEYED_STATISTICS})")
    top = np.argmax(p, axis=1)
    if window is not None:
        lo = np.broadcast_to(np.asarray(window, dtype=np.float64), (classes,))
        keep = p[np.arange(len(p)), top] > lo[top]
        s, p, top = s[keep], p[keep], top[keep]
    if statistic == "share":
        r = _non_top(s, top) - _non_top(p, top)
    else:
        r = _positions(p, top) - _positions(s, top)
    sums = np.zeros((classes, classes))
    np.add.at(sums, top, r)
    sizes = np.bincount(top, minlength=classes).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = sums / sizes[:, None]
        if statistic == "position-t":
            sq = np.zeros((classes, classes))
            np.add.at(sq, top, r * r)
            var = (sq - sizes[:, None] * scores ** 2) / (sizes[:, None] - 1)
            se = np.sqrt(np.maximum(var, 0.0) / sizes[:, None])
            # a constant cell (every input moves j by the same places): t is that change
            # times the group size, finite and of the right sign (any key-free rule is valid)
            scores = np.where(se > 1e-12, scores / np.where(se > 1e-12, se, 1.0),
                              scores * sizes[:, None])
    scores[sizes < (2 if statistic == "position-t" else 1)] = np.nan
    scores[np.arange(classes), np.arange(classes)] = np.nan
    return scores, sizes


def _positions(a: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Place of every class in each row's descending order of the non-top entries (0 = the
    runner-up; equal entries keep index order); the top class gets the last place.
    float64[M, N]."""
    b = np.asarray(a, dtype=np.float64).copy()
    b[np.arange(len(b)), top] = -np.inf
    order = np.argsort(-b, axis=1, kind="stable")
    pos = np.empty_like(order)
    pos[np.arange(len(b))[:, None], order] = np.arange(b.shape[1])[None, :]
    return pos.astype(np.float64)


def _non_top(a: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Rows of ``a`` with entry ``top`` zeroed and the rest renormalised (uniform if all zero)."""
    a = np.clip(a, 0.0, None).copy()
    a[np.arange(len(a)), top] = 0.0
    tot = a.sum(axis=1, keepdims=True)
    flat = np.ones_like(a)
    flat[np.arange(len(a)), top] = 0.0
    flat /= max(a.shape[1] - 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, a / np.where(tot > 0, tot, 1.0), flat)


def rank_sum_cdf(ks: Sequence[int], t: float) -> float:
    """P(R_1 + … + R_m ≤ t) for independent R_i uniform on {1..k_i}: the exact null of T.

    Computed by convolving the m uniform probability mass functions (float64; exact up to
    rounding, relative error ~1e-15 per step).
    """
    pmf = np.ones(1)  # distribution of the sum, support starting at 0
    for k in ks:
        if k < 1:
            raise ValueError("every class needs at least one candidate")
        pmf = np.convolve(pmf, np.full(k, 1.0 / k))
    # support of Σ R_i is m..Σk_i; index 0 of pmf is the value m
    idx = int(np.floor(t)) - len(ks)
    if idx < 0:
        return 0.0
    return float(min(1.0, pmf[: idx + 1].sum()))


def pick_sum_sf(values: Sequence[np.ndarray], t: float, *, max_half: int = 1 << 22,
                grid: int = 1 << 14) -> float:
    """P(V_1 + … + V_m ≥ t) for independent V_i uniform over ``values[i]``: the exact null of
    the ``position-t`` statistic (one uniform pick of f_i per class).

    Exact by meeting in the middle: the classes split in two halves, each half's sums
    enumerated (9^5 = 59,049 for ten classes), one half sorted and the other counted against
    it by binary search — all Π k_i combinations counted without listing them. Ties count as
    ≥ (within 1e-9 of the value range): against detection, so the p-value stays valid. When a
    half would exceed ``max_half`` sums (many classes), a convolution on a grid of ``grid``
    cells with every value rounded *up*, which can only raise p: a valid, conservative bound.
    """
    vals = [np.asarray(v, dtype=np.float64).ravel() for v in values]
    if not vals or any(len(v) == 0 for v in vals):
        raise ValueError("every class needs at least one value")
    span = sum(float(v.max() - v.min()) for v in vals) or 1.0
    eps = 1e-9 * span
    sizes = [len(v) for v in vals]
    # split where the two halves' products are most even
    logs = np.cumsum(np.log(sizes))
    cut = int(np.argmin(np.abs(logs - logs[-1] / 2))) + 1
    left, right = int(np.prod(sizes[:cut])), int(np.prod(sizes[cut:]))
    if max(left, right) <= max_half:
        a, b = _sums(vals[:cut]), np.sort(_sums(vals[cut:]))
        count = (len(b) - np.searchsorted(b, t - eps - a, side="left")).sum()
        return float(count) / (len(a) * len(b))
    # conservative: values rounded up onto a grid of step h, then an exact convolution
    h = span / grid
    lows = [float(v.min()) for v in vals]
    pmf = np.ones(1)
    for v, lo in zip(vals, lows, strict=True):
        idx = np.ceil((v - lo) / h - 1e-12).astype(np.int64)
        pmf = np.convolve(pmf, np.bincount(idx) / len(v))
    start = int(np.ceil((t - eps - sum(lows)) / h - 1e-12))
    return float(min(1.0, pmf[max(start, 0):].sum())) if start < len(pmf) else 0.0


def _sums(vals: Sequence[np.ndarray]) -> np.ndarray:
    out = np.zeros(1)
    for v in vals:
        out = (out[:, None] + v[None, :]).ravel()
    return out


def keyed_window(params: object) -> np.ndarray | None:
    """The window's lower edge α_i of every class as a probability, float64[N] (the inputs
    the ``position-t`` statistic uses), or None for a plain V table."""
    if not hasattr(params, "alpha") or not hasattr(params, "one"):
        return None
    return np.asarray(params.alpha, dtype=np.float64) / float(params.one)


@dataclass(frozen=True)
class KeyedResult:
    """The keyed test on one suspect: p-value of H0 "the suspect is independent of the key"."""

    p_value: float
    statistic: float  # T: Σ R_i (rank statistics) or Σ t_i(f_i) ("position-t")
    ranks: list[int]  # R_i per class used (1 = favoured index scores highest)
    candidates: list[int]  # k_i: how many non-top classes were ranked in class i's group
    classes_used: list[int]  # the i that entered T
    queries: int
    min_p: float  # the smallest p this many classes can give: Π 1/k_i

    def summary(self) -> dict[str, object]:
        """Everything but the per-class detail that would reveal the key (ranks are fine:
        they say how the suspect scores the favoured index, not which index it is)."""
        return {"p_value": self.p_value, "statistic": self.statistic,
                "classes_used": len(self.classes_used), "queries": self.queries,
                "min_p": self.min_p}


def keyed_test(
    s: np.ndarray, p: np.ndarray, favoured: np.ndarray, *, min_group: int = 1,
    statistic: str = "position-t", window: float | np.ndarray | None = None,
) -> KeyedResult:
    """The keyed test of suspect answers ``s`` against F_org's ``p`` (module comment above),
    scored by ``statistic`` (:func:`keyed_scores`; "position-t" unless comparing variants).

    ``favoured`` is :func:`favoured_indices` of the secret parameters, ``window``
    :func:`keyed_window` of them (None: every input). Classes whose favoured index is −1,
    whose F_org group has fewer than ``min_group`` inputs, or whose favoured score is
    undefined are left out (decided without looking at the key's effect on the suspect).
    Ties count against detection: R_i = #{candidates j with score_j ≥ score_f}, and the sum's
    tail counts equal sums as ≥, which keeps the p-value valid.
    """
    favoured = np.asarray(favoured, dtype=np.int64)
    n = len(favoured)
    scores, sizes = keyed_scores(s, p, n, statistic, window)
    ranks, ks, used, picks, obs = [], [], [], [], 0.0
    for i in range(n):
        f = int(favoured[i])
        if f < 0 or sizes[i] < min_group:
            continue
        row = scores[i]
        cand = np.isfinite(row)
        if not cand[f]:
            continue
        ks.append(int(cand.sum()))
        ranks.append(int(np.sum(row[cand] >= row[f])))
        used.append(i)
        picks.append(row[cand])
        obs += float(row[f])
    if not used:
        return KeyedResult(1.0, 0, [], [], [], int(len(s)), 1.0)
    if statistic in RANK_STATISTICS:
        t: float = int(sum(ranks))
        pv = rank_sum_cdf(ks, t)
    else:
        t, pv = obs, pick_sum_sf(picks, obs)
    return KeyedResult(
        p_value=pv, statistic=t, ranks=ranks, candidates=ks, classes_used=used,
        queries=int(len(s)), min_p=float(np.prod([1.0 / k for k in ks])),
    )


def keyed_queries_needed(
    s: np.ndarray,
    p: np.ndarray,
    favoured: np.ndarray,
    *,
    levels: Sequence[float] = (0.05, 0.01, 1e-3),
    sizes: Sequence[int] = (25, 50, 100, 200, 500, 1000, 2000, 5000, 10000),
    repeats: int = 20,
    seed: int = 0,
    statistic: str = "position-t",
    window: float | np.ndarray | None = None,
) -> dict[str, object]:
    """Smallest number of verification queries at which the keyed test rejects H0 at each
    level in at least 90% of ``repeats`` random query subsets of that size (a power estimate
    for a suspect; for an independent model no size should qualify).

    Returns ``{"needed": {"0.05": n or None, …}, "curve": [{"queries", "median_p", "p90"}]}``
    where ``p90`` is the 90th percentile of p over the subsets.
    """
    rng = np.random.default_rng(seed)
    m = len(s)
    curve = []
    needed: dict[str, int | None] = {f"{a:g}": None for a in levels}
    for k in sizes:
        if k > m:
            break
        ps = []
        for _ in range(repeats if k < m else 1):
            idx = rng.choice(m, k, replace=False)
            ps.append(keyed_test(s[idx], p[idx], favoured, statistic=statistic,
                                 window=window).p_value)
        p90 = float(np.quantile(ps, 0.9))
        curve.append({"queries": k, "median_p": float(np.median(ps)), "p90": p90})
        for a in levels:
            if needed[f"{a:g}"] is None and p90 <= a:
                needed[f"{a:g}"] = k
    return {"needed": needed, "curve": curve, "repeats": repeats}
