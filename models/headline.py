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

Every list above is an option (``--help``), so a bigger profile can run the subset its time
allows, e.g. the full-profile run of docs/results/keyed-full/::

    python -m dynamarks.models.headline --profile full --out docs/results/keyed-full \\
        --seeds 1 --headline stolen,ft1000,ft5000,prune10 --one-seed "" --table average \\
        --paper stolen,prune10 --benign labels-100%,labels-50%,labels-25%,labels-mlp,distilled-F_org

A rerun with other lists appends to the same ``results.jsonl`` (cached models are only
re-evaluated); ``--render-only`` then writes the report from every row there.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from dynamarks.models.suite import Job

HEADLINE = ("stolen", "ft1000", "ft5000", "prune-ft")
ONE_SEED = ("distill-T4", "hard", "resnet18")
TABLE = ("average", "prune10")
PAPER = ("stolen", "ft1000", "ft5000", "hard", "average", "prune10", "resnet18")
KEYS = (0, 1, 2)
SEEDS = (1, 2, 3)


def plan(keys: Sequence[int] = KEYS, seeds: Sequence[int] = SEEDS,
         headline: Sequence[str] = HEADLINE, one_seed: Sequence[str] = ONE_SEED,
         table: Sequence[str] = TABLE, paper: Sequence[str] = PAPER) -> list[Job]:
    """The attack jobs of the headline run (module doc), most important first (results are
    saved as each job finishes, so a cut-short run keeps them): ``headline`` attacks over
    ``keys`` × ``seeds``, ``one_seed`` over ``keys`` with the first seed, ``table`` with the
    first key and seed (robust preset), ``paper`` likewise with the paper preset."""
    k0, s0 = keys[0], seeds[0]
    jobs = [Job(a, "robust", k, s) for a in headline for k in keys for s in seeds]
    jobs += [Job(a, "robust", k, s0) for a in one_seed for k in keys]
    jobs += [Job(a, "robust", k0, s0) for a in table]
    jobs += [Job(a, "paper", k0, s0) for a in paper]
    return jobs


def _names(text: str) -> tuple[str, ...]:
    return tuple(t for t in text.split(",") if t)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(t) for t in text.split(",") if t)


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - the long experiment
    from dynamarks.models import suite
    from dynamarks.models.training import set_threads

    ap = argparse.ArgumentParser(description="the headline keyed-verification results")
    ap.add_argument("--profile", default="small", choices=list(suite.SUITE_PROFILES))
    ap.add_argument("--out", default="docs/results/keyed")
    ap.add_argument("--ray-address", default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data", default=None)
    ap.add_argument("--keys", default="0,1,2", help="key seeds of both presets; the first one "
                    "serves the one-key rows; benign models are checked against all (0,1,2)")
    ap.add_argument("--seeds", default="1,2,3", help="training seeds of the headline attacks; "
                    "the first serves the one-seed rows (1,2,3)")
    ap.add_argument("--headline", default=",".join(HEADLINE),
                    help="robust-preset attacks over keys × seeds (%(default)s)")
    ap.add_argument("--one-seed", default=",".join(ONE_SEED),
                    help="robust-preset attacks over keys, first seed (%(default)s)")
    ap.add_argument("--table", default=",".join(TABLE),
                    help="robust-preset attacks, first key and seed (%(default)s)")
    ap.add_argument("--paper", default=",".join(PAPER),
                    help="paper-preset attacks, first key and seed (%(default)s)")
    ap.add_argument("--benign", default=None,
                    help="benign recipes (default: all 8; 'none' for no benign model)")
    ap.add_argument("--benign-seeds", default="1,2,3", help="seeds of the benign models")
    ap.add_argument("--render-only", action="store_true",
                    help="write report.md from the results.jsonl of a cut-short run")
    args = ap.parse_args(argv)
    if args.render_only:
        from pathlib import Path

        if not (Path(args.out) / "results.jsonl").is_file():
            ap.exit(2, f"headline: no results.jsonl in {args.out}: run the experiment first\n")
        render_partial(args.out, args.profile)
        return
    set_threads(1)
    keys = _ints(args.keys)
    jobs = plan(keys, _ints(args.seeds), _names(args.headline), _names(args.one_seed),
                _names(args.table), _names(args.paper))
    benign = None if args.benign is None else (
        () if args.benign == "none" else _names(args.benign))
    suite.run_suite("fmnist", args.out, args.profile, presets=("robust", "paper"),
                    calibration_keys=keys, benign_seeds=_ints(args.benign_seeds),
                    benign=benign, data_root=args.data, ray_address=args.ray_address,
                    workers=args.workers, jobs=jobs)
    print(f"wrote {args.out}/report.md")


def render_partial(out: str, profile: str = "small") -> None:  # pragma: no cover - cut short
    """report.md and results.json from ``out``/results.jsonl (the last row of every job)."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    from dynamarks.models import suite, suite_report

    rows: dict[str, dict] = {}
    for line in (Path(out) / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        rows[r["name"]] = r
    attacks = [r for r in rows.values() if r["job"]["preset"] != "none"]
    benign = [r for r in rows.values() if r["job"]["preset"] == "none"]
    setup = {"profile": profile, "detail": json.dumps(asdict(suite.SUITE_PROFILES[profile]))
             + " (see models/headline.py; rendered from results.jsonl: the rows that finished)"}
    (Path(out) / "results.json").write_text(json.dumps(
        {"setup": setup, "attacks": attacks, "benign": benign,
         "calibration": suite_report.calibration(benign) if benign else {}}, indent=1))
    (Path(out) / "report.md").write_text(suite_report.render(attacks, benign, None, setup))


if __name__ == "__main__":  # pragma: no cover
    main()
