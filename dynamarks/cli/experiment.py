"""Reproduce the paper's experiments: ``dynamarks experiment table1 --dataset fmnist``.

Writes results.json, report.md and the figures (fig1_eta_vs_gamma.png, fig2_eta_vs_kappa.png,
…) into the output folder. ``--fast`` is a few-minute smoke profile (6,000 training and 2,000
verification samples, fewer epochs); the default profile is the paper's setting.
"""

from __future__ import annotations

import argparse

from dynamarks.cli.options import add_backend_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("which", choices=["table1"], help="the experiment to run")
    parser.add_argument("--dataset", default="fmnist", help="fmnist (default) or cifar10")
    add_backend_options(parser, extra=("float",))
    parser.add_argument("--fast", action="store_true", help="the few-minute profile")
    parser.add_argument("--data", metavar="DIR", default=None,
                        help="data folder (default: the Debian package's for Fashion-MNIST)")
    parser.add_argument("-o", "--out", default=None,
                        help="output folder (default out/table1-DATASET[-fast])")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cache", action="store_true", help="retrain the victim")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--attacker-http", action="store_true",
                        help="the attacker queries the API served over loopback HTTP (OIP v2)")


def run(args: argparse.Namespace) -> int:
    from dynamarks.models.experiments import run_table1
    from dynamarks.models.training import set_threads

    set_threads(args.threads)
    out = args.out or f"out/table1-{args.dataset}{'-fast' if args.fast else ''}"
    run_table1(args.dataset, out, backend=args.backend, profile="fast" if args.fast else "full",
               data_root=args.data, seed=args.seed, use_cache=not args.no_cache,
               attacker_http=args.attacker_http)
    return 0
