"""The end-to-end story behind `make demo`.

Default: the full story from `dynamarks.models.story` — a software TPM, secrets generated and
sealed, the victim model, an attacker extracting a surrogate through the simulated hardware,
the owner's verdict. `--quick` runs only the first chapter: generate a secret parameter set,
stream a batch of realistic softmax vectors through the bit-exact reference of the unit and
show what changed (seconds, no model, no TPM).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--out", type=Path, default=Path("out/demo"), help="output folder")
    p.add_argument("--quick", action="store_true", help="only the reference-model chapter")
    p.add_argument("--vectors", type=int, default=10_000, help="vectors for --quick")
    p.add_argument("--seed", type=int, default=None, help="reproducible run (tests)")
    p.add_argument("--attacker-http", action="store_true",
                   help="the attacker queries the API served over loopback HTTP (OIP v2)")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from dynamarks.host.errors import DynamarksError

    if args.vectors < 1:
        raise DynamarksError(f"--vectors must be at least 1, not {args.vectors}")
    if args.out.exists() and not args.out.is_dir():
        raise DynamarksError(f"{args.out} exists and is not a folder")
    if not args.out.exists():
        parent = next(p for p in args.out.parents if p.exists())
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise DynamarksError(f"cannot create {args.out}: {parent} is not a writable folder")
    console = Console()
    if args.quick:
        from dynamarks.host.quickstart import reference_chapter

        reference_chapter(args.out, args.vectors, args.seed, console)
        return 0
    from dynamarks.models.story import run_story

    return int(run_story(args.out, console=console, attacker_http=args.attacker_http) or 0)
