"""Synthesis figures of the watermark unit and the whole board top for both boards (``make
bench-synth``): per-block tables from yosys with the hierarchy kept, then place and route over
several placer seeds.

Usage: ``python bench/bench_synth.py [--boards icebreaker ulx3s] [--unit-only]
[--seeds 1 2 3] [--blocks-only]``.

1. Per block (N = 10, W = 16), iCE40 and ECP5 side by side, for the unit and for the board top
   (the top's components, the unit one row per block below it): LUT4, FF, carry cells, LUT RAM,
   block RAM, DSP, so that every change shows where its cells went. Each family's design is
   elaborated for its board's platform (the iCEBreaker, the ULX3S), as the board builds are:
   blocks pick family primitives from it (the iCE40's DSP counters, the ECP5's registered
   multiplier and LUT-RAM tables). The header of each table
   quotes the yosys commands (:data:`dynamarks.rtl.synth.BLOCK_FLOW`): ``synth_ice40 -dsp
   -noflatten``; on the ECP5 ``synth_ecp5 -noflatten`` up to its LUT mapping, ``abc -lut 4``
   instead of its ``abc9`` (which YoWASP's yosys-abc aborts on with ``-noflatten``), then
   synth_ecp5's cell mapping. Without flattening yosys cannot optimise across block
   boundaries: the totals are a little above a flat build's.
2. Place and route (YoWASP nextpnr, :func:`dynamarks.rtl.synth.run`, what ``make synth`` runs)
   of the unit in its registered-I/O wrapper and — without ``--unit-only`` — of the whole top:
   one yosys run per build and one nextpnr run per seed; logic cells, LUT4, FF, DSP, BRAM and
   the Fmax of the system clock, min / median / max over the seeds, against the targets; and,
   for the unit, its logic cells per block after packing (nextpnr's packed netlist, cells
   attributed by name: :func:`dynamarks.rtl.synth.placed_lc_blocks`), which — unlike the
   yosys table — shows the cells LUTs and flip-flops really take together.

A benchmark, not a test: it prints the figures and never fails on them (only on a build
error). About 15 minutes for both boards and three seeds on a shared 2-core machine; the first
run of each YoWASP tool also compiles it (minutes, once).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from dynamarks.rtl.platforms import BOARDS
from dynamarks.rtl.synth import (
    BLOCK_KINDS,
    CLASSES,
    FAMILY_BOARD,
    REPO,
    WIDTH,
    block_flow,
    block_stats,
    make_top,
    make_unit,
    run,
    summary_rows,
)

#: Columns per family in the side-by-side table (the iCE40 has no LUT RAM cells).
COLUMNS = {"ice40": ("LUT4", "FF", "carry", "BRAM", "DSP"),
           "ecp5": ("LUT4", "FF", "carry", "LUTRAM", "BRAM", "DSP")}
FAMILY_NAME = {"ice40": "iCE40", "ecp5": "ECP5"}


def side_by_side(tables: dict[str, dict[str, dict[str, int]]]) -> list[str]:
    """One markdown table of :func:`block_stats` results for several families, a row per block
    (blocks missing in a family's result show 0) and a total row."""
    fams = list(tables)
    blocks = sorted({b for t in tables.values() for b in t}, key=lambda b: (b == "(glue)", b))
    head = ["block"] + [f"{FAMILY_NAME[f]} {c}" for f in fams for c in COLUMNS[f]]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    zero = dict.fromkeys(BLOCK_KINDS, 0)
    tot = {f: dict(zero) for f in fams}
    for blk in blocks:
        label = blk if "/" not in blk else "&nbsp;&nbsp;" + blk
        cells = []
        for f in fams:
            row = tables[f].get(blk, zero)
            cells += [str(row[c]) for c in COLUMNS[f]]
            for c in BLOCK_KINDS:
                tot[f][c] += row[c]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| **total** | " + " | ".join(f"**{tot[f][c]}**" for f in fams
                                               for c in COLUMNS[f]) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--boards", nargs="+", choices=sorted(BOARDS), default=["icebreaker", "ulx3s"])
    ap.add_argument("--unit-only", action="store_true", help="only the unit (tables and P&R)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--blocks-only", action="store_true", help="only the per-block tables")
    args = ap.parse_args(argv)
    t0 = time.monotonic()

    fams = list(dict.fromkeys(BOARDS[b].family for b in args.boards))
    designs = {"unit": lambda: make_unit(CLASSES, WIDTH)}
    if not args.unit_only:
        clk = BOARDS["icebreaker"].top_mhz * 1e6
        designs["top"] = lambda: make_top(CLASSES, WIDTH, clk)
    for design, make in designs.items():
        what = "the unit" if design == "unit" else "the whole board top (48 MHz, 3 Mbaud)"
        print(f"\nPer block, {what}, N = {CLASSES}, W = {WIDTH}; yosys with the hierarchy "
              "kept:", flush=True)
        for f in fams:
            print(f"- {FAMILY_NAME[f]} (elaborated for the {FAMILY_BOARD[f]} platform, as the "
                  f"board build is): `{block_flow(f)}`", flush=True)
        print("- carry: SB_CARRY (one bit) on the iCE40, CCU2C (two bits) on the ECP5; a block's "
              "row counts its own cells (below two levels, its submodules' too)", flush=True)
        tables = {f: block_stats(make(), f, name=design) for f in fams}
        print("\n" + "\n".join(side_by_side(tables)), flush=True)
    if args.blocks_only:
        return 0

    rows: list[str] = []
    for board in args.boards:
        print(f"\n== {board}: place and route, seeds {' '.join(map(str, args.seeds))}",
              flush=True)
        run(board, unit_only=args.unit_only, seeds=tuple(args.seeds))
        doc = json.loads((REPO / "reports" / board / "synth.json").read_text())
        rows += [f"| {board} " + r for r in summary_rows(doc)[2:]]
    print(f"\nPlace and route (N = {CLASSES}, W = {WIDTH}; YoWASP yosys + nextpnr, seeds "
          f"{' '.join(map(str, args.seeds))}; {time.monotonic() - t0:.0f} s in all)\n")
    print("| board " + summary_rows({"builds": {}})[0])
    print("|---" + summary_rows({"builds": {}})[1])
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
