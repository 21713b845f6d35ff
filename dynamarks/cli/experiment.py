"""Experiments: ``dynamarks experiment table1|suite|sweep``.

* ``table1`` — the paper's Table I and figures (results.json, report.md, fig*.png). ``--fast``
  is a few-minute smoke profile; the default is the paper's setting.
* ``suite`` — the removal-attack suite against both presets and the benign-model calibration
  of both tests (``dynamarks.models.suite``): results.json, results.jsonl, report.md. Models
  are cached by content under $DYNAMARKS_CACHE/suite, so a rerun resumes. ``--ray-address
  local`` runs the jobs as Ray tasks on this machine (``--workers`` CPUs), any other address
  joins that Ray cluster; without it, one process.
* ``sweep`` — the preset sweep (``dynamarks.models.sweep``): sweep.json, tradeoff.png,
  report.md.
"""

from __future__ import annotations

import argparse

from dynamarks.cli.options import add_backend_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("which", choices=["table1", "suite", "sweep"],
                        help="the experiment to run")
    parser.add_argument("--dataset", default="fmnist", help="fmnist (default) or cifar10")
    add_backend_options(parser, extra=("float",))
    parser.add_argument("--fast", action="store_true", help="table1: the few-minute profile")
    parser.add_argument("--profile", choices=["tiny", "small", "full"], default="small",
                        help="suite/sweep sizes (default small; see docs/results)")
    parser.add_argument("--presets", default="robust,paper",
                        help="suite: comma-separated presets to attack (default robust,paper)")
    parser.add_argument("--keys", type=int, default=1,
                        help="suite: keys per preset attacked; sweep: > 1 runs the key sweep "
                        "(victim-architecture thieves over that many keys, models/sweep.py)")
    parser.add_argument("--attack-seeds", type=int, default=1,
                        help="suite: training seeds per attacked key (the stolen surrogate's "
                        "and everything trained from it)")
    parser.add_argument("--calibration-keys", type=int, default=3,
                        help="suite: keys per preset every benign model is tested against")
    parser.add_argument("--benign-seeds", type=int, default=3, help="suite: seeds per recipe")
    parser.add_argument("--attacks", default=None,
                        help="suite: comma-separated subset of the attacks (default: all)")
    parser.add_argument("--ray-address", default=None,
                        help="suite: 'local' (a Ray on this machine) or a cluster address")
    parser.add_argument("--workers", type=int, default=2, help="suite: local Ray CPUs")
    parser.add_argument("--data", metavar="DIR", default=None,
                        help="data folder (default: the Debian package's for Fashion-MNIST)")
    parser.add_argument("-o", "--out", default=None,
                        help="output folder (default out/WHICH-DATASET[-PROFILE])")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cache", action="store_true", help="table1: retrain the victim")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default 2 for table1, 1 per job for suite/sweep)")
    parser.add_argument("--attacker-http", action="store_true",
                        help="table1: the attacker queries the API served over loopback HTTP "
                        "(OIP v2)")


def run(args: argparse.Namespace) -> int:
    from dynamarks.cli.options import backend_opts_from_args
    from dynamarks.host.errors import DynamarksError
    from dynamarks.models.training import set_threads

    backend_opts = backend_opts_from_args(args)
    if args.which == "table1":
        from dynamarks.models.experiments import run_table1

        set_threads(args.threads or 2)
        out = args.out or f"out/table1-{args.dataset}{'-fast' if args.fast else ''}"
        run_table1(args.dataset, out, backend=args.backend,
                   profile="fast" if args.fast else "full", data_root=args.data, seed=args.seed,
                   use_cache=not args.no_cache, attacker_http=args.attacker_http,
                   backend_opts=backend_opts)
        return 0
    from dataclasses import replace

    from dynamarks.models import suite

    set_threads(args.threads or 1)
    if args.backend in ("rtl", "serial"):
        raise DynamarksError("suite/sweep run the unit on the reference or float backend")
    prof = replace(suite.SUITE_PROFILES[args.profile], backend=args.backend)
    out = args.out or f"out/{args.which}-{args.dataset}-{args.profile}"
    if args.which == "sweep":
        import json
        from pathlib import Path

        from dynamarks.models import sweep

        ctx = suite.Context(args.dataset, prof, args.data)
        if args.keys > 1:  # the key sweep the robust preset was chosen from
            rows = sweep.run_key_sweep(ctx, keys=tuple(range(args.keys)),
                                       progress=lambda label: print(f"  done {label}"))
            Path(out).mkdir(parents=True, exist_ok=True)
            (Path(out) / "sweep_keys.json").write_text(json.dumps(rows, indent=1))
            (Path(out) / "sweep_keys.md").write_text("\n".join(sweep.key_sweep_table(rows)) + "\n")
            sweep.fig_key_tradeoff(rows, Path(out) / "tradeoff_keys.png")
            print(f"wrote {out}/sweep_keys.json, sweep_keys.md and tradeoff_keys.png")
            return 0
        rows = sweep.run_sweep(ctx, progress=lambda label: print(f"  done {label}"))
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "sweep.json").write_text(json.dumps(rows, indent=1))
        sweep.fig_tradeoff(rows, Path(out) / "tradeoff.png")
        print(f"wrote {out}/sweep.json and tradeoff.png")
        return 0
    presets = tuple(p.strip() for p in args.presets.split(",") if p.strip())
    unknown = set(presets) - {"paper", "robust"}
    if unknown:
        raise DynamarksError(f"unknown preset(s) {sorted(unknown)} (paper, robust)")
    attacks = None
    if args.attacks:
        attacks = [a.strip() for a in args.attacks.split(",") if a.strip()]
        bad = [a for a in attacks if a not in suite.ATTACKS]
        if bad:
            raise DynamarksError(f"unknown attack(s) {bad} (known: {', '.join(suite.ATTACKS)})")
    suite.run_suite(args.dataset, out, prof, presets=presets,
                    attack_keys=tuple(range(args.keys)),
                    attack_seeds=tuple(range(1, args.attack_seeds + 1)),
                    calibration_keys=tuple(range(args.calibration_keys)),
                    benign_seeds=tuple(range(1, args.benign_seeds + 1)), attacks=attacks,
                    data_root=args.data, ray_address=args.ray_address, workers=args.workers)
    print(f"wrote {out}/report.md")
    return 0
