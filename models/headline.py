"""The headline results of docs/results/keyed/: the robust preset over keys × seeds.

``python -m dynamarks.models.headline [--profile small] [--out docs/results/keyed]
[--ray-address local]`` runs, through :func:`dynamarks.models.suite.run_suite` (cached by
content, resumable):

* the robust preset's headline attacks — stolen, ft1000, ft5000, prune-ft, distill-T4, hard
  — over 3 keys × 3 training seeds, and the ResNet-18 surrogate over the 3 keys with the first
  seed (a deep network costs ~10× a FashionCNN on one core);
* Table I's rows for both presets with key 0, seed 1 (averaging, 10% pruning, ResNet-18) and
  the paper preset's stolen / ft1000 / ft5000 / hard rows;
* the calibration: every benign model (20) against 3 keys of each preset.
"""

from __future__ import annotations

import argparse

from dynamarks.models.suite import Job

HEADLINE = ("stolen", "ft1000", "ft5000", "prune-ft", "distill-T4", "hard")
KEYS = (0, 1, 2)
SEEDS = (1, 2, 3)


def plan() -> list[Job]:
    """The attack jobs of the headline run (module doc), stolen models first."""
    jobs = [Job(a, "robust", k, s) for k in KEYS for s in SEEDS for a in HEADLINE]
    jobs += [Job("resnet18", "robust", k, SEEDS[0]) for k in KEYS]
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
    args = ap.parse_args(argv)
    set_threads(1)
    suite.run_suite("fmnist", args.out, args.profile, presets=("robust", "paper"),
                    calibration_keys=KEYS, benign_seeds=SEEDS, data_root=args.data,
                    ray_address=args.ray_address, workers=args.workers, jobs=plan())
    print(f"wrote {args.out}/report.md")


if __name__ == "__main__":  # pragma: no cover
    main()
