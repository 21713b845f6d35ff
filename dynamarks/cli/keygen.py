"""Generate a secret parameter set with the paper's defaults and write it to a file (mode 0600).

Defaults (DynaMarks, Section V-B): window (0.9, 1.0), Δ ~ U[0.01, 0.19), each V_i with one
random index at 2/(N+1) and the others at 1/(N+1). The key, the IV and the favoured indices
come from the operating system's CSPRNG. The file holds secrets in plaintext: seal it with
`dynamarks seal` and delete it, or keep it offline.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--classes", type=int, default=10, help="number of classes N (default 10)")
    p.add_argument("--width", type=int, default=16, help="word width W in bits (default 16)")
    p.add_argument("--alpha", type=float, default=0.9, help="window low end (default 0.9)")
    p.add_argument("--beta", type=float, default=1.0, help="window high end (default 1.0)")
    p.add_argument("-a", type=float, default=0.01, help="Δ low end (default 0.01)")
    p.add_argument("-b", type=float, default=0.19, help="Δ high end (default 0.19)")
    p.add_argument("-o", "--output", required=True, type=Path, help="parameter file to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")


def run(args: argparse.Namespace) -> int:
    from dynamarks.host.atomic import check_writable
    from dynamarks.host.params import keygen, save_params

    check_writable(args.output, overwrite=args.force)
    params = keygen(
        args.classes, args.width, alpha=args.alpha, beta=args.beta, a=args.a, b=args.b
    )
    save_params(params, args.output)
    print(f"wrote {args.output}: {params.classes} classes, W={params.width} (mode 0600)")
    return 0
