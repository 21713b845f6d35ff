"""The preset sweep: detection power, honest-user cost and visibility of parameter choices.

For every candidate (``CANDIDATES``: V_i concentration, window α, Δ range) on the suite's
victim and data (:class:`dynamarks.models.suite.Context`):

* **cost to honest users** — on the verification set, accuracy of F_alt (must equal F_org's),
  and the negative log-likelihood, expected calibration error (15 equal-width confidence bins)
  and Brier score of the API's answers, beside F_org's;
* **visibility** — how well an attacker tells altered from unaltered answers: a logistic
  regression (scikit-learn) on the sorted answer vector and its logarithm, trained on half of
  the API's answers to the verification inputs (label: the unit altered it) and scored by ROC
  AUC on the other half (0.5 = invisible);
* **detection power** — a surrogate (``sweep_arch``, an MLP by default: the sweep ranks
  settings, the attack suite measures the victim's own architecture) trained on the API's
  answers for the attacker's pool, and the same surrogate fine-tuned on 1,000 true labels:
  keyed p on all verification queries and median p on 100 and 1,000, and η.

``run_sweep`` returns one row per candidate; ``fig_tradeoff`` plots power against cost and
visibility.

``run_key_sweep`` is the sweep the robust preset was chosen from: every candidate of
``KEYED_CANDIDATES`` over several keys, with the *victim's* architecture as the thief's and the
suite's cached jobs (stolen, ft1000, ft5000 — :mod:`dynamarks.models.suite`), so the rows are
the same models the attack suite would train for that preset. One key is not enough: in the
small profile the keyed p of the same attack varies by three orders of magnitude between keys.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dynamarks.host.presets import Preset, keygen_preset
from dynamarks.models.api import ProtectedAPI
from dynamarks.models.suite import Context
from dynamarks.models.training import predict_proba, train
from dynamarks.models.verification import (
    algorithm2,
    favoured_indices,
    keyed_queries_needed,
    keyed_test,
    keyed_window,
)


@dataclass(frozen=True)
class Candidate:
    label: str
    preset: Preset


def _c(label: str, alpha: float, a: float, b: float, conc: float | None) -> Candidate:
    return Candidate(label, Preset(label, alpha, 1.0, a, b, conc, label))


CANDIDATES: tuple[Candidate, ...] = (
    _c("paper", 0.9, 0.01, 0.19, None),
    _c("V 0.3, paper window", 0.9, 0.01, 0.19, 0.3),
    _c("V 0.6, paper window", 0.9, 0.01, 0.19, 0.6),
    _c("V 0.9, paper window", 0.9, 0.01, 0.19, 0.9),
    _c("V 0.6, α 0.8, Δ .05–.25", 0.8, 0.05, 0.25, 0.6),
    _c("V 0.6, α 0.9, Δ .10–.35", 0.9, 0.10, 0.35, 0.6),
    _c("V 0.6, α 0.7, Δ .02–.18", 0.7, 0.02, 0.18, 0.6),
)


def honest_cost(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> dict[str, float]:
    """Accuracy, NLL, ECE and Brier score of probability rows against labels."""
    probs = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    m = len(y)
    conf, pred = probs.max(1), probs.argmax(1)
    correct = (pred == y).astype(float)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    ece = sum(abs(correct[idx == k].mean() - conf[idx == k].mean()) * np.mean(idx == k)
              for k in range(bins) if np.any(idx == k))
    onehot = np.eye(probs.shape[1])[y]
    return {
        "accuracy": float(correct.mean()),
        "nll": float(-np.mean(np.log(np.maximum(probs[np.arange(m), y], 1e-12)))),
        "ece": float(ece),
        "brier": float(np.mean(np.sum((probs - onehot) ** 2, axis=1))),
    }


def visibility_auc(answers: np.ndarray, altered: np.ndarray, seed: int = 0) -> float:
    """ROC AUC of a logistic regression telling altered answers from unaltered ones."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    if altered.all() or not altered.any():
        return float("nan")
    srt = -np.sort(-answers, axis=1)
    feats = np.hstack([srt, np.log(np.maximum(srt, 1e-9))])
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(answers))
    half = len(order) // 2
    tr, te = order[:half], order[half:]
    clf = LogisticRegression(max_iter=2000).fit(feats[tr], altered[tr])
    return float(roc_auc_score(altered[te], clf.predict_proba(feats[te])[:, 1]))


def evaluate_candidate(ctx: Context, cand: Candidate, *, key_seed: int = 0,
                       sweep_arch: str = "mlp", ft_labels: int = 1000) -> dict[str, Any]:
    """One row of the sweep (module doc)."""
    d = ctx._data()
    params = keygen_preset(cand.preset, ctx.info.classes, seed=2000 + key_seed)
    fav, win = favoured_indices(params), keyed_window(params)
    victim = ctx.victim()
    y = d["yt"].numpy()
    p = predict_proba(victim, d["xt"])
    with ProtectedAPI(victim, params, ctx.profile.backend, seed=key_seed) as api:
        q = api.alter(p)
        pool = api.query(d["xp"])
    altered = np.abs(q - p).max(1) > 1e-3
    row: dict[str, Any] = {
        "label": cand.label, "alpha": cand.preset.alpha, "a": cand.preset.a, "b": cand.preset.b,
        "concentration": cand.preset.concentration, "altered_fraction": float(altered.mean()),
        "org": honest_cost(p, y), "alt": honest_cost(q, y),
        "visibility_auc": visibility_auc(q, altered, key_seed),
    }
    sur = train(ctx.new_model(sweep_arch, 1), d["xp"], torch.from_numpy(pool).float(),
                ctx.cfg(1))
    xf, yf = ctx.labelled(ft_labels, seed=9)
    ft = train(copy.deepcopy(sur), xf, yf, ctx.cfg(21, ctx.profile.ft_epochs))
    for name, model in (("stolen", sur), (f"ft{ft_labels}", ft)):
        s = predict_proba(model, d["xt"])
        need = keyed_queries_needed(s, p, fav, sizes=(100, 1000), repeats=10, seed=key_seed,
                                    window=win)
        med = {c["queries"]: c["median_p"] for c in need["curve"]}
        row[name] = {"accuracy": float((s.argmax(1) == y).mean()),
                     "p_value": keyed_test(s, p, fav, window=win).p_value,
                     "p_at_100": med.get(100), "p_at_1000": med.get(1000),
                     "eta": algorithm2(s, p, q, y, ctx.info.classes).eta}
    return row


def _k(name: str, alpha: float, a: float, b: float, conc: float) -> Preset:
    return Preset(name, alpha, 1.0, a, b, conc, name)


#: Candidates of the key sweep (names are the suite's preset names of their cached jobs).
KEYED_CANDIDATES: tuple[Preset, ...] = (
    _k("v0.6", 0.9, 0.01, 0.19, 0.6),  # the first robust preset (measured under that name)
    _k("v0.9", 0.9, 0.01, 0.19, 0.9),
    _k("v0.9-d25", 0.9, 0.05, 0.25, 0.9),
    _k("v0.9-d35", 0.9, 0.10, 0.35, 0.9),
    _k("v0.9-a0.8", 0.8, 0.05, 0.25, 0.9),  # = robust
)


def run_key_sweep(ctx: Context, candidates: Sequence[Preset] = KEYED_CANDIDATES,
                  keys: Sequence[int] = (0, 1, 2),
                  attacks: Sequence[str] = ("stolen", "ft1000", "ft5000"),
                  progress=None) -> list[dict[str, Any]]:
    """One row per (candidate, key): honest-user cost, visibility, and per attack the keyed p,
    η and the thief's accuracy (module doc). Candidates are registered as presets for the
    duration (the suite's jobs and their cache names refer to presets by name)."""
    from dynamarks.host import presets as preset_mod
    from dynamarks.models.suite import Job, obtain

    d = ctx._data()
    y = d["yt"].numpy()
    rows = []
    saved = dict(preset_mod.PRESETS)
    preset_mod.PRESETS.update({c.name: c for c in candidates})
    try:
        for c in candidates:
            for k in keys:
                p, q = ctx.owner_view(c.name, k)
                fav = favoured_indices(ctx.params(c.name, k))
                win = keyed_window(ctx.params(c.name, k))
                altered = np.abs(q - p).max(1) > 1e-3
                row: dict[str, Any] = {
                    "label": c.name, "key": k, "alpha": c.alpha, "a": c.a, "b": c.b,
                    "concentration": c.concentration, "altered_fraction": float(altered.mean()),
                    "org": honest_cost(p, y), "alt": honest_cost(q, y),
                    "visibility_auc": visibility_auc(q, altered, k)}
                for att in attacks:
                    s = ctx.test_proba(obtain(ctx, Job(att, c.name, k)))
                    row[att] = {"accuracy": float((s.argmax(1) == y).mean()),
                                "p_value": keyed_test(s, p, fav, window=win).p_value,
                                "eta": algorithm2(s, p, q, y, ctx.info.classes).eta}
                rows.append(row)
                if progress:
                    progress(f"{c.name} key {k}")
    finally:
        preset_mod.PRESETS.clear()
        preset_mod.PRESETS.update(saved)
    return rows


def key_sweep_table(rows: Sequence[dict[str, Any]],
                    attacks: Sequence[str] = ("stolen", "ft1000", "ft5000")) -> list[str]:
    """Markdown: per candidate, honest-user cost (mean over keys) and per attack the keyed p
    of every key and their median."""
    head = ("| candidate | altered | NLL org → alt | ECE org → alt | Brier org → alt | "
            "visibility AUC | " + " | ".join(f"{a} p per key (median)" for a in attacks)
            + " | ft1000 η (median) |")
    lines = [head, "|" + "---|" * (7 + len(attacks))]
    for label in dict.fromkeys(r["label"] for r in rows):
        rs = [r for r in rows if r["label"] == label]

        def mean(f, rs=rs) -> float:
            return float(np.mean([f(r) for r in rs]))

        cells = []
        for a in attacks:
            ps = [r[a]["p_value"] for r in rs]
            cells.append(", ".join(f"{v:.1g}" for v in ps) + f" ({np.median(ps):.1g})")
        eta = np.median([r["ft1000"]["eta"] for r in rs]) if "ft1000" in rs[0] else float("nan")
        lines.append(
            f"| {label} | {100 * mean(lambda r: r['altered_fraction']):.0f}% | "
            f"{mean(lambda r: r['org']['nll']):.3f} → {mean(lambda r: r['alt']['nll']):.3f} | "
            f"{mean(lambda r: r['org']['ece']):.3f} → {mean(lambda r: r['alt']['ece']):.3f} | "
            f"{mean(lambda r: r['org']['brier']):.3f} → {mean(lambda r: r['alt']['brier']):.3f} | "
            f"{mean(lambda r: r['visibility_auc']):.2f} | " + " | ".join(cells)
            + f" | {eta:.2f} |")
    return lines


def fig_key_tradeoff(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """The key sweep's trade-off: median −log10 keyed p over keys (stolen, ft1000, ft5000)
    against the honest users' NLL cost and against visibility, one point per candidate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    marks = {"stolen": "o", "ft1000": "s", "ft5000": "^"}
    for label in dict.fromkeys(r["label"] for r in rows):
        rs = [r for r in rows if r["label"] == label]
        cost = float(np.mean([r["alt"]["nll"] - r["org"]["nll"] for r in rs]))
        vis = float(np.mean([r["visibility_auc"] for r in rs]))
        for att, m in marks.items():
            power = -np.log10(max(float(np.median([r[att]["p_value"] for r in rs])), 1e-300))
            for ax, xv in ((axes[0], cost), (axes[1], vis)):
                ax.scatter(xv, power, marker=m, s=40, color="C0" if att == "stolen" else
                           "C1" if att == "ft1000" else "C2")
                if att == "ft1000":
                    ax.annotate(label, (xv, power), fontsize=7, xytext=(3, 3),
                                textcoords="offset points")
    for ax in axes:
        ax.set_ylabel("median over keys of −log10 keyed p")
        ax.axhline(3, color="grey", ls=":", lw=1)
        for att, m in marks.items():
            ax.scatter([], [], marker=m, color="grey", label=att)
        ax.legend(fontsize=7)
    axes[0].set_xlabel("NLL of the API's answers − NLL of F_org (nats)")
    axes[1].set_xlabel("visibility: ROC AUC of altered vs unaltered answers")
    fig.suptitle("Preset trade-off over 3 keys (FashionCNN thieves): power vs honest-user cost")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_sweep(ctx: Context, candidates: Sequence[Candidate] = CANDIDATES,
              progress=None, **kw: Any) -> list[dict[str, Any]]:
    rows = []
    for c in candidates:
        rows.append(evaluate_candidate(ctx, c, **kw))
        if progress:
            progress(c.label)
    return rows


def fig_tradeoff(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Detection power (−log10 keyed p after fine-tuning) against the honest users' NLL cost
    and against visibility, one point per candidate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for r in rows:
        ft = next(v for k, v in r.items() if k.startswith("ft") and isinstance(v, dict))
        power = -np.log10(max(ft["p_value"], 1e-300))
        cost = r["alt"]["nll"] - r["org"]["nll"]
        for ax, xv in ((axes[0], cost), (axes[1], r["visibility_auc"])):
            ax.scatter(xv, power, s=40)
            ax.annotate(r["label"], (xv, power), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    axes[0].set_xlabel("NLL of the API's answers − NLL of F_org (nats)")
    axes[1].set_xlabel("visibility: ROC AUC of altered vs unaltered answers")
    for ax in axes:
        ax.set_ylabel("−log10 keyed p after fine-tuning on 1,000 labels")
        ax.axhline(3, color="grey", ls=":", lw=1)
    fig.suptitle("Preset trade-off: detection power vs honest-user cost and visibility")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
