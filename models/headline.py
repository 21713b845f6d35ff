"""The headline results of docs/results/keyed/: the robust preset over keys × seeds.

``python -m dynamarks.models.headline [--profile small] [--out docs/results/keyed]
[--ray-address local]`` runs, through :func:`dynamarks.models.suite.run_suite` (cached by
content, resumable):

* the robust preset's headline attacks — stolen, ft1000, ft5000, prune-ft — over 3 keys × 3
  training seeds, and distillation at T = 4, hard labels and a ResNet-18 thief over the 3 keys
  with the first seed (what one core shared with other work allowed in the time: a hard-label
  thief's model does not depend on the key at all, and a ResNet-18 costs ~10× a FashionCNN);
* Table I's rows for both presets with key 0, seed 1 (averaging, 10% pruning, ResNet-18) and
  the paper preset's stolen / ft1000 / ft5000 / hard rows;
* the calibration: every benign model (20) against 3 keys of each preset.
"""

from __future__ import annotations

import argparse

from dynamarks.models.suite import Job

HEADLINE = ("stolen", "ft1000", "ft5000", "prune-ft")
ONE_SEED = ("distill-T4", "hard", "resnet18")
KEYS = (0, 1, 2)
SEEDS = (1, 2, 3)


def plan() -> list[Job]:
    """The attack jobs of the headline run (module doc), most important first (results are
    saved as each job finishes, so a cut-short run keeps them)."""
    jobs = [Job(a, "robust", k, s) for a in HEADLINE for k in KEYS for s in SEEDS]
    jobs += [Job(a, "robust", k, SEEDS[0]) for a in ONE_SEED for k in KEYS]
    jobs += [Job(a, "robust", 0) for a in ("average", "prune10")]
    jobs += [Job(a, "paper", 0) for a in ("stolen", "ft1000", "ft5000", "hard", "average",
                                          "prune10", "resnet18")]
    return jobs


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - the long experiment
    from dynamarks.models import suite
    from dynamarks.models.training import set_threads

    ap = argparse.ArgumentParser(description="the headline keyed-verification results")
    ap.add_argument("--profile", default="small", choices=list(suite.SUITE_PROFILES))
    ap.add_argument("--out", default="docs/results/keyed")
    ap.add_argument("--ray-address", default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data", default=None)
    ap.add_argument("--render-only", action="store_true",
                    help="write report.md from the results.jsonl of a cut-short run")
    args = ap.parse_args(argv)
    if args.render_only:
        render_partial(args.out)
        return
    set_threads(1)
    suite.run_suite("fmnist", args.out, args.profile, presets=("robust", "paper"),
                    calibration_keys=KEYS, benign_seeds=SEEDS, data_root=args.data,
                    ray_address=args.ray_address, workers=args.workers, jobs=plan())
    print(f"wrote {args.out}/report.md")


def render_partial(out: str) -> None:  # pragma: no cover - used on a cut-short run
    """report.md and results.json from ``out``/results.jsonl (the last row of every job)."""
    import json
    from pathlib import Path

    from dynamarks.models import suite_report

    rows: dict[str, dict] = {}
    for line in (Path(out) / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        rows[r["name"]] = r
    attacks = [r for r in rows.values() if r["job"]["preset"] != "none"]
    benign = [r for r in rows.values() if r["job"]["preset"] == "none"]
    setup = {"profile": "small", "detail": "see models/headline.py (cut-short run: the rows "
             "that finished)"}
    (Path(out) / "results.json").write_text(json.dumps(
        {"setup": setup, "attacks": attacks, "benign": benign,
         "calibration": suite_report.calibration(benign) if benign else {}}, indent=1))
    (Path(out) / "report.md").write_text(suite_report.render(attacks, benign, None, setup))


if __name__ == "__main__":  # pragma: no cover
    main()
