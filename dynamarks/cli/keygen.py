"""Generate a secret parameter set from a preset and write it to a file (mode 0600).

Presets (``dynamarks.host.presets``): ``paper`` (the default; DynaMarks Section V-B: window
(0.9, 1.0), Δ ~ U[0.01, 0.19), each V_i with one random index at 2/(N+1) and the others at
1/(N+1)) and ``robust`` (a concentrated V_i — 0.9 on one other class — window (0.8, 1] and
Δ ~ U[0.05, 0.25), for the keyed test; docs/VERIFICATION.md). ``--alpha``, ``--beta``, ``-a``,
``-b`` and ``--concentration`` override the preset's value. The key, the IV and the favoured
indices come from the operating system's CSPRNG. The file holds secrets in plaintext: seal it
with `dynamarks seal` and delete it, or keep it offline.
"""

from __future__ import annotations

import argparse
from pathlib import Path

PRESET_NAMES = ("paper", "robust")  # kept in step with dynamarks.host.presets.PRESETS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=PRESET_NAMES, default="paper",
                   help="parameter preset (default: paper)")
    p.add_argument("--classes", type=int, default=10, help="number of classes N (default 10)")
    p.add_argument("--width", type=int, default=16, help="word width W in bits (default 16)")
    p.add_argument("--alpha", type=float, default=None, help="window low end (paper: 0.9)")
    p.add_argument("--beta", type=float, default=None, help="window high end (paper: 1.0)")
    p.add_argument("-a", type=float, default=None, help="Δ low end (paper: 0.01)")
    p.add_argument("-b", type=float, default=None, help="Δ high end (paper: 0.19)")
    p.add_argument("--concentration", type=float, default=None,
                   help="robust preset: probability of the favoured index (default 0.9)")
    p.add_argument("-o", "--output", required=True, type=Path, help="parameter file to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")


def run(args: argparse.Namespace) -> int:
    from dynamarks.host.atomic import check_writable
    from dynamarks.host.errors import DynamarksError
    from dynamarks.host.params import save_params
    from dynamarks.host.presets import keygen_preset

    check_writable(args.output, overwrite=args.force)
    if args.concentration is not None and args.preset != "robust":
        raise DynamarksError("--concentration applies to the robust preset only")
    overrides = {k: v for k, v in (("alpha", args.alpha), ("beta", args.beta), ("a", args.a),
                                   ("b", args.b), ("concentration", args.concentration))
                 if v is not None}
    params = keygen_preset(args.preset, args.classes, args.width, **overrides)
    save_params(params, args.output)
    print(f"wrote {args.output}: preset {args.preset}, {params.classes} classes, "
          f"W={params.width} (mode 0600)")
    return 0
