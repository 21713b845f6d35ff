"""The keyed test's statistics side by side on the suite's cached models (issue 9).

``python -m dynamarks.models.keyed_compare [--profile small] [--out FILE.md]`` loads every
cached model of the headline run (:mod:`dynamarks.models.headline`: attacks of both presets
over keys × seeds, and the benign models), computes its answers on the verification set once
(kept in ``$DYNAMARKS_CACHE/compare-<profile>.npz``, so a rerun only evaluates), and runs
:func:`dynamarks.models.verification.keyed_test` with every statistic of
``KEYED_STATISTICS`` — each with the window the shipped test uses (the key's α_i; the rank
statistics as they shipped, on all answers). It prints (and with ``--out`` writes) two
markdown tables: per attack, the median [best, worst] p and how many runs reach p ≤ 10⁻³;
per preset, the benign models' false positives at α = 0.01 over (model, key) pairs, the
smallest benign p and a Kolmogorov–Smirnov test of benign p against the uniform law.

Nothing is trained: a model missing from the cache is skipped (run the headline first).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

#: which statistic runs with the key's window (the others as they shipped: every answer)
WINDOWED = {"position-t": True, "position": False, "share": False}
ATTACK_ORDER = ("stolen", "ft1000", "ft5000", "prune-ft", "prune10", "average", "distill-T4",
                "resnet18", "hard")


def collect(profile: str, keys=(0, 1, 2), seeds=(1, 2, 3)) -> dict[str, np.ndarray]:
    """Answers of every cached headline model on the verification set, F_org's, the favoured
    indices and windows of 3 keys of both presets (cached in the suite's cache folder)."""
    from dynamarks.models.suite import (
        ATTACKS,
        SUITE_PROFILES,
        Context,
        Job,
        benign_jobs,
        cache_root,
        job_hash,
        obtain,
    )
    from dynamarks.models.training import predict_proba, set_threads
    from dynamarks.models.verification import favoured_indices, keyed_window

    set_threads(1)
    path = cache_root().parent / f"compare-{profile}.npz"
    have = dict(np.load(path)) if path.is_file() else {}
    ctx = Context("fmnist", SUITE_PROFILES[profile])
    if "p" not in have:
        have["p"] = predict_proba(ctx.victim(), ctx._data()["xt"])
    for pr in ("robust", "paper"):
        for k in keys:
            have[f"fav/{pr}/{k}"] = favoured_indices(ctx.params(pr, k))
            have[f"win/{pr}/{k}"] = keyed_window(ctx.params(pr, k))
    jobs = [Job(a, pr, k, s) for pr in ("robust", "paper") for a in ATTACKS for k in keys
            for s in seeds] + benign_jobs(seeds, all_seeds=True)
    for j in jobs:
        name = f"s/{j.preset}/{j.attack}/{j.key_seed}/{j.seed}"
        ckpt = cache_root() / f"{job_hash(ctx.profile, j, 'fmnist')}.pt"
        if name in have or not ckpt.is_file():
            continue
        have[name] = predict_proba(obtain(ctx, j), ctx._data()["xt"]).astype(np.float32)
    np.savez_compressed(path, **have)
    return have


def compare(data: dict[str, np.ndarray], statistics=None) -> dict[str, dict]:
    """p of every (model, key, statistic): {"attacks": {(attack, preset): {stat: [p, …]}},
    "benign": {preset: {stat: [p, …]}}} (benign models against every key of the preset)."""
    from dynamarks.models.verification import KEYED_STATISTICS, keyed_test

    stats_ = statistics or KEYED_STATISTICS
    p = data["p"].astype(np.float64)
    keys = sorted({int(k.split("/")[2]) for k in data if k.startswith("fav/")})
    out: dict[str, dict] = {"attacks": {}, "benign": {}}

    def run(s: np.ndarray, preset: str, k: int) -> dict[str, float]:
        fav, win = data[f"fav/{preset}/{k}"], data[f"win/{preset}/{k}"]
        return {st: keyed_test(s, p, fav, statistic=st,
                               window=win if WINDOWED.get(st, False) else None).p_value
                for st in stats_}

    for name in sorted(k for k in data if k.startswith("s/")):
        _, preset, attack, k, _seed = name.split("/")
        s = data[name].astype(np.float64)
        if preset == "none":
            for pr in ("robust", "paper"):
                for kk in keys:
                    for st, v in run(s, pr, kk).items():
                        out["benign"].setdefault(pr, {}).setdefault(st, []).append(v)
        else:
            for st, v in run(s, preset, int(k)).items():
                out["attacks"].setdefault((attack, preset), {}).setdefault(st, []).append(v)
    return out


def render(res: dict[str, dict], profile: str) -> str:
    from scipy import stats

    from dynamarks.models.verification import KEYED_STATISTICS

    sts = [s for s in KEYED_STATISTICS if any(s in v for v in res["attacks"].values())]
    lines = [f"Profile `{profile}`; `python -m dynamarks.models.keyed_compare --profile "
             f"{profile}`. Keyed p on the whole verification set; position-t uses the key's "
             "window (answers with F_org top probability > α_i), the rank sums every answer.",
             "", "| attack | preset | runs | " + " | ".join(
                 f"{s}: median [best, worst], p ≤ 1e-3" for s in sts) + " |",
             "|---|---|---|" + "---|" * len(sts)]
    order = {a: i for i, a in enumerate(ATTACK_ORDER)}
    for (att, pr), by in sorted(res["attacks"].items(),
                                key=lambda kv: (kv[0][1] != "robust", order.get(kv[0][0], 99))):
        n = len(by[sts[0]])
        cells = []
        for s in sts:
            v = np.array(by[s])
            cells.append(f"{np.median(v):.2g} [{v.min():.2g}, {v.max():.2g}], "
                         f"{int(np.sum(v <= 1e-3))}/{n}")
        lines.append(f"| {att} | {pr} | {n} | " + " | ".join(cells) + " |")
    lines += ["", "Benign models against every key of the preset: false positives at α = 0.01 "
              "over (model, key) pairs, smallest p, KS test of p against U(0, 1) (pairs of one "
              "model share its answers, so the KS p is indicative).", "",
              "| preset | pairs | " + " | ".join(f"{s}: FP, min p, KS p" for s in sts) + " |",
              "|---|---|" + "---|" * len(sts)]
    for pr, by in res["benign"].items():
        n = len(by[sts[0]])
        cells = []
        for s in sts:
            v = np.array(by[s])
            cells.append(f"{int(np.sum(v <= 0.01))}, {v.min():.2g}, "
                         f"{stats.kstest(v, 'uniform').pvalue:.2g}")
        lines.append(f"| {pr} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - over cached models
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="small", choices=["tiny", "small", "full"])
    ap.add_argument("--out", default=None, help="write the tables to this markdown file")
    args = ap.parse_args(argv)
    text = render(compare(collect(args.profile)), args.profile)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":  # pragma: no cover
    main()
