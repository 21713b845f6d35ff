"""Export the watermark unit as drop-in IP: AXI4-Stream/AXI4-Lite Verilog, a C header, register
documentation and IP-XACT rendered by PeakRDL from one register map, a self-checking testbench
and a FuseSoC core with `lint` (Verilator) and `sim` (Icarus) targets.

    dynamarks export-ip --classes 10 --width 16 -o ip/
    cd ip && fusesoc --cores-root . run --target sim dynamarks:ip:dynamarks_wm_axi

The testbench uses a public test parameter set (fixed seed), never a secret one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

#: the public test parameter set of the exported testbench
SMOKE_SEED = 2026
SMOKE_VECTORS = 24


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--classes", type=int, default=10, help="number of classes N (default 10)")
    p.add_argument("--width", type=int, default=16, help="word width W in bits (default 16)")
    p.add_argument("--name", default="dynamarks_wm_axi",
                   help="Verilog module and FuseSoC core name (default dynamarks_wm_axi)")
    p.add_argument("-o", "--output", required=True, type=Path, help="folder to write")
    p.add_argument("--force", action="store_true", help="replace a non-empty folder")


def smoke(classes: int, width: int):
    """The exported testbench's stimulus: a public parameter set, vectors and the reference's
    bit-exact outputs."""
    import numpy as np

    from dynamarks.host.fixedpoint import to_fixed
    from dynamarks.host.params import keygen
    from dynamarks.host.reference import ReferenceUnit
    from dynamarks.host.synthetic import realistic_softmax
    from dynamarks.rtl.ip_export import Smoke
    from dynamarks.rtl.param_store import config_writes

    params = keygen(classes, width, seed=SMOKE_SEED)
    rng = np.random.default_rng(SMOKE_SEED)
    x, _ = realistic_softmax(SMOKE_VECTORS, classes, rng)
    p = to_fixed(x, width=width)
    out = ReferenceUnit(params).process(p)
    fields = {"key": params.key, "iv": params.iv, "alpha": params.alpha, "beta": params.beta,
              "a": params.a, "b": params.b, "C": params.thresholds}
    return Smoke(config_writes(fields, classes), p.tolist(), out.tolist())


def run(args: argparse.Namespace) -> int:
    from dynamarks.host.errors import DynamarksError
    from dynamarks.host.params import MAX_CLASSES, MAX_WIDTH, MIN_CLASSES, MIN_WIDTH

    if not MIN_CLASSES <= args.classes <= MAX_CLASSES:
        raise DynamarksError(f"--classes must be {MIN_CLASSES} … {MAX_CLASSES}")
    if not MIN_WIDTH <= args.width <= MAX_WIDTH:
        raise DynamarksError(f"--width must be {MIN_WIDTH} … {MAX_WIDTH} (SPEC §1)")
    out: Path = args.output
    if out.exists() and not out.is_dir():
        raise DynamarksError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise DynamarksError(f"{out} is not empty; use --force to replace it")
    if not (args.name.isidentifier() and args.name.isascii()):
        raise DynamarksError(f"--name {args.name!r} is not a Verilog identifier")

    from dynamarks.rtl.ip_export import export_ip

    try:
        files = export_ip(out, args.classes, args.width, smoke(args.classes, args.width),
                          name=args.name, force=args.force)
    except (ValueError, FileExistsError) as exc:
        raise DynamarksError(str(exc).splitlines()[0]) from None
    print(f"wrote {len(files)} files to {out}/ (N={args.classes}, W={args.width}):")
    for f in files:
        print(f"  {f.relative_to(out)}")
    return 0
