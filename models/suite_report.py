"""Tables of the attack suite, the benign calibration and the preset sweep (Markdown).

``calibration(benign_rows, alpha, tau)`` — per preset, the false-positive rate of both tests
over every (benign model, key) pair: the keyed test at level α (p ≤ α) and Algorithm 2 at
τ (η > τ), each with a Clopper–Pearson 95% interval. Pairs of one model under several keys are
not independent, so the interval is also given over models (a model counts as a false positive
if any of its keys fires), which is conservative.
``render(attacks, benign, sweep, setup)`` — the Markdown report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats


def clopper_pearson(k: int, n: int, conf: float = 0.95) -> tuple[float, float]:
    a = 1 - conf
    lo = 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def calibration(benign: Sequence[dict[str, Any]], alpha: float = 0.01,
                tau: float = 1.0) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    presets = sorted({k.split(":")[0] for r in benign for k in r["keys"]})
    for pr in presets:
        pairs_p, pairs_eta, any_p, any_eta = [], [], [], []
        for r in benign:
            ks = [v for k, v in r["keys"].items() if k.startswith(pr + ":")]
            pairs_p += [v["p_value"] <= alpha for v in ks]
            pairs_eta += [v["eta"] > tau for v in ks]
            any_p.append(any(v["p_value"] <= alpha for v in ks))
            any_eta.append(any(v["eta"] > tau for v in ks))
        entry: dict[str, Any] = {"models": len(benign), "pairs": len(pairs_p)}
        for name, flags, per_model in (("keyed", pairs_p, any_p), ("eta", pairs_eta, any_eta)):
            k, n = int(sum(flags)), len(flags)
            km = int(sum(per_model))
            entry[name] = {"false_positives": k, "fpr": k / n if n else float("nan"),
                           "ci95": clopper_pearson(k, n) if n else (0.0, 1.0),
                           "models_flagged": km,
                           "ci95_models": clopper_pearson(km, len(per_model))}
        ps = [v["p_value"] for r in benign for k, v in r["keys"].items() if k.startswith(pr + ":")]
        entry["keyed"]["ks_uniform_p"] = float(stats.kstest(ps, "uniform").pvalue) if ps else None
        entry["eta_max"] = max((v["eta"] for r in benign for k, v in r["keys"].items()
                                if k.startswith(pr + ":")), default=float("nan"))
        out[pr] = entry
    return out


PAPER_TABLE1 = {"averaging": 2.52, "prune10": 2.61, "resnet18": 2.57, "benign": 0.19}


def _first_run(attacks: Sequence[dict[str, Any]], attack: str, preset: str) -> dict | None:
    """The run of ``attack`` under ``preset`` with the lowest key seed, then training seed."""
    runs = [r for r in attacks if r["job"]["attack"] == attack and r["job"]["preset"] == preset]
    return min(runs, key=lambda r: (r["job"]["key_seed"], r["job"]["seed"]), default=None)


def table1(attacks: Sequence[dict[str, Any]], benign: Sequence[dict[str, Any]]) -> list[str]:
    """Table I of the paper (η for averaging, 10% pruning, ResNet-18, benign) per preset, with
    the keyed p beside every η; '—' where the job has not run. Attack cells: the run with the
    lowest key and seed. ResNet-18 twice: after the protocol's epochs and trained as long again
    (``resnet18-2x``). Benign, as the paper defines it (F_bm: trained on 50% of the training
    set): the median η over every ``labels-50%`` model and key of the preset, [its maximum],
    and the smallest keyed p among them."""
    lines = ["| preset | averaging η (p) | 10% pruning η (p) | ResNet-18 η (p) | "
             "ResNet-18, 2× epochs η (p) | benign η median [max] (smallest p), 50% of the labels |",
             "|---|---|---|---|---|---|"]
    presets = sorted({r["job"]["preset"] for r in attacks})
    for pr in presets:
        cells = []
        for att in ("average", "prune10", "resnet18", "resnet18-2x"):
            r = _first_run(attacks, att, pr)
            if r is None:
                cells.append("—")
            else:
                (_, v), = r["keys"].items()
                cells.append(f"{v['eta']:.2f} ({_p(v['p_value'])})")
        vals = [v for b in benign if b["name"].startswith("labels-50% ")
                for k, v in b.get("keys", {}).items() if k.startswith(pr + ":")]
        if vals:
            etas = [v["eta"] for v in vals]
            cells.append(f"{float(np.median(etas)):.2f} [{max(etas):.2f}] "
                         f"({_p(min(v['p_value'] for v in vals))}), {len(vals)} pairs")
        else:
            cells.append("—")
        lines.append(f"| {pr} | " + " | ".join(cells) + " |")
    ref = PAPER_TABLE1
    lines.append(f"| paper (η only) | {ref['averaging']} | {ref['prune10']} | "
                 f"{ref['resnet18']} | — | {ref['benign']} |")
    return lines


def attack_summary(attacks: Sequence[dict[str, Any]], alpha: float = 0.01,
                   strict: float = 1e-3) -> list[dict[str, Any]]:
    """Per (attack, preset), over its keys × seeds: runs, median and worst keyed p, how many
    runs reach p ≤ ``alpha`` and p ≤ ``strict``, mean accuracy, median η and how many η > 1."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in attacks:
        (_, v), = r["keys"].items()
        groups.setdefault((r["job"]["attack"], r["job"]["preset"]), []).append(
            {**v, "accuracy": r["accuracy"]})
    out = []
    for (att, pr), vs in groups.items():
        ps = np.array([v["p_value"] for v in vs])
        etas = np.array([v["eta"] for v in vs])
        acc = np.array([v["accuracy"] for v in vs])
        out.append({"attack": att, "preset": pr, "runs": len(vs),
                    "median_p": float(np.median(ps)), "worst_p": float(ps.max()),
                    "best_p": float(ps.min()),
                    "detected": int(np.sum(ps <= alpha)), "strict": int(np.sum(ps <= strict)),
                    "accuracy": float(acc.mean()), "accuracy_sd": float(acc.std()),
                    "median_eta": float(np.median(etas)), "eta_over_1": int(np.sum(etas > 1))})
    return out


def summary_table(attacks: Sequence[dict[str, Any]], alpha: float = 0.01) -> list[str]:
    lines = ["| attack | preset | runs | accuracy (mean ± sd) | keyed p median [best, worst] | "
             f"p ≤ {alpha:g} | p ≤ 1e-3 | η median | η > 1 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for g in attack_summary(attacks, alpha):
        n = g["runs"]
        lines.append(
            f"| {g['attack']} | {g['preset']} | {n} | {100 * g['accuracy']:.2f}% ± "
            f"{100 * g['accuracy_sd']:.2f} | {_p(g['median_p'])} [{_p(g['best_p'])}, "
            f"{_p(g['worst_p'])}] | {g['detected']}/{n} | {g['strict']}/{n} | "
            f"{g['median_eta']:.2f} | {g['eta_over_1']}/{n} |")
    return lines


def _p(x: float | None) -> str:
    return "—" if x is None else (f"{x:.1e}" if x < 1e-3 else f"{x:.3f}")


def render(attacks: Sequence[dict[str, Any]], benign: Sequence[dict[str, Any]],
           sweep: Sequence[dict[str, Any]] | None, setup: dict[str, Any],
           alpha: float = 0.01) -> str:
    lines = [
        "# Keyed verification: removal attacks, calibration and the preset sweep",
        "",
        f"Profile `{setup.get('profile')}`: {setup.get('detail', '')}",
        "",
        "## Table I beside the paper, both presets, keyed p in brackets",
        "",
        *table1(attacks, benign),
        "",
        "## Removal attacks (the attacker knows the algorithm, not the key)",
        "",
        "Over every key × training seed run (a run: one key of the preset, one seed of the "
        "stolen surrogate and of what is trained from it):",
        "",
        *summary_table(attacks, alpha),
        "",
        "Every run. p: keyed p-value on all verification queries; p@1k / p@100: median over "
        "10 random subsets of 1,000 / 100 queries; n95 / n99: fewest queries with p ≤ 0.05 / "
        "0.01 in 9 of 10 subsets; η: Algorithm 2 (τ = 1). Accuracy: the surrogate's on the "
        "test set.",
        "",
        "| attack | preset | key | seed | accuracy | p | p@1k | p@100 | n95 | n99 | η | keyed "
        "| η > 1 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in attacks:
        (key, v), = r["keys"].items()
        nd = v["needed"]
        lines.append(
            f"| {r['job']['attack']} | {key.split(':')[0]} | {r['job']['key_seed']} | "
            f"{r['job']['seed']} | {100 * r['accuracy']:.2f}% | "
            f"{_p(v['p_value'])} | {_p(v.get('p_at_1000'))} | {_p(v.get('p_at_100'))} | "
            f"{nd.get('0.05') or '>'} | {nd.get('0.01') or '>'} | {v['eta']:.2f} | "
            f"{'detected' if v['p_value'] <= alpha else 'no'} | "
            f"{'yes' if v['eta'] > 1 else 'no'} |")
    cal = calibration(benign, alpha)
    lines += [
        "",
        f"## Calibration on {len(benign)} benign models (never saw the protected API)",
        "",
        f"Every benign model is checked against every key (keyed test at α = {alpha:g}, η at "
        "τ = 1). FPR over (model, key) pairs with a Clopper–Pearson 95% interval; 'models "
        "flagged': a model counts once if any key fires (conservative).",
        "",
        "| preset | models | pairs | keyed FP | keyed FPR [95% CI] | models flagged | "
        "KS p (keyed p ~ U) | η FP | η FPR [95% CI] | max benign η |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for pr, c in cal.items():
        k, e = c["keyed"], c["eta"]
        lines.append(
            f"| {pr} | {c['models']} | {c['pairs']} | {k['false_positives']} | "
            f"{k['fpr']:.3f} [{k['ci95'][0]:.3f}, {k['ci95'][1]:.3f}] | {k['models_flagged']} | "
            f"{_p(k['ks_uniform_p'])} | {e['false_positives']} | {e['fpr']:.3f} "
            f"[{e['ci95'][0]:.3f}, {e['ci95'][1]:.3f}] | {c['eta_max']:.2f} |")
    lines += ["", "| benign model | accuracy | keyed p per key | η per key |",
              "|---|---|---|---|"]
    for r in benign:
        ks = r["keys"]
        lines.append(f"| {r['name']} | {100 * r['accuracy']:.2f}% | "
                     + ", ".join(f"{k}: {_p(v['p_value'])}" for k, v in ks.items()) + " | "
                     + ", ".join(f"{v['eta']:.2f}" for v in ks.values()) + " |")
    if sweep:
        lines += [
            "",
            "## Preset sweep (surrogate architecture: MLP; see models/sweep.py)",
            "",
            "| candidate | altered | acc F_org / F_alt | NLL org → alt | ECE org → alt | "
            "Brier org → alt | visibility AUC | stolen p | p@1k | p@100 | ft1000 p | "
            "stolen η | ft η |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in sweep:
            o, a, s = r["org"], r["alt"], r["stolen"]
            ft = next(v for k, v in r.items() if k.startswith("ft") and isinstance(v, dict))
            lines.append(
                f"| {r['label']} | {100 * r['altered_fraction']:.0f}% | "
                f"{100 * o['accuracy']:.2f} / {100 * a['accuracy']:.2f} | "
                f"{o['nll']:.3f} → {a['nll']:.3f} | {o['ece']:.3f} → {a['ece']:.3f} | "
                f"{o['brier']:.3f} → {a['brier']:.3f} | {r['visibility_auc']:.2f} | "
                f"{_p(s['p_value'])} | {_p(s['p_at_1000'])} | {_p(s['p_at_100'])} | "
                f"{_p(ft['p_value'])} | {s['eta']:.2f} | {ft['eta']:.2f} |")
        lines += ["", "![trade-off](tradeoff.png)"]
    return "\n".join(lines) + "\n"


def summary_numbers(benign: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and spread of benign p-values per preset (for the README)."""
    out = {}
    for pr, c in calibration(benign).items():
        ps = np.array([v["p_value"] for r in benign for k, v in r["keys"].items()
                       if k.startswith(pr + ":")])
        out[pr] = {"min_p": float(ps.min()), "median_p": float(np.median(ps)), **c}
    return out
