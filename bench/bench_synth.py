"""Synthesis figures of the watermark unit (and the whole top) for both boards (``make
bench-synth``): a per-block table from yosys with the hierarchy kept, then place and route over
several placer seeds.

Usage: ``python bench/bench_synth.py [--boards icebreaker ulx3s] [--unit-only]
[--seeds 1 2 3] [--blocks-only]``.

1. Per block (``synth_ice40 -dsp -noflatten`` / ``synth_ecp5 -noflatten``, N = 10, W = 16):
   LUT4, FF, carry cells, LUT RAM, block RAM, DSP for every direct submodule of the unit, so
   that every change shows where its cells went (without flattening yosys cannot optimise
   across block boundaries: the total is a little above the flat build's).
2. Place and route (YoWASP nextpnr) of the unit in its registered-I/O wrapper — and, without
   ``--unit-only``, of the whole top — once per seed: logic cells, LUT4, FF, DSP, BRAM and the
   Fmax of the system clock, then min/median/max over the seeds and the unit's share of the
   logic cells (wrapper flip-flops subtracted).

A benchmark, not a test: it prints the figures against the targets and never fails on them
(only on a build error). Minutes per board and seed on a shared 2-core machine; the first
run of each YoWASP tool also compiles it (minutes, once).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from dynamarks.rtl.platforms import BOARDS
from dynamarks.rtl.synth import (
    CLASSES,
    WIDTH,
    block_stats,
    block_table,
    build,
    make_unit,
    targets,
    write_reports,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--boards", nargs="+", choices=sorted(BOARDS), default=["icebreaker", "ulx3s"])
    ap.add_argument("--unit-only", action="store_true", help="place and route the unit only")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--blocks-only", action="store_true", help="only the per-block table")
    args = ap.parse_args(argv)
    t0 = time.monotonic()

    for board in args.boards:
        fam = BOARDS[board].family
        opts = " -dsp" if fam == "ice40" else ""
        print(f"\nPer block, {fam} (`synth_{fam}{opts} -noflatten`, N = {CLASSES}, "
              f"W = {WIDTH}):\n", flush=True)
        try:
            blocks = block_stats(make_unit(CLASSES, WIDTH), fam)
        except RuntimeError as exc:
            # YoWASP's yosys-abc (abc9, which synth_ecp5 always runs) aborts on some designs
            # synthesised with -noflatten; the flat place-and-route below is unaffected.
            print(f"(no per-block table: {str(exc).splitlines()[0]})", flush=True)
            continue
        print("\n".join(block_table(blocks)), flush=True)
    if args.blocks_only:
        return 0

    rows = []
    for board in args.boards:
        for design in (["unit"] if args.unit_only else ["unit", "top"]):
            runs = []
            for seed in args.seeds:
                r = build(board, design, seed=seed)
                s = r.summary()
                print(f"bench-synth: {board} {design} seed {seed}: {s['logic_cells']} LC, "
                      f"Fmax {s['fmax_sync_mhz']:.1f} MHz ({r.seconds:.0f} s)", flush=True)
                runs.append(r)
            if design == "unit":
                write_reports(board, runs[-1:], CLASSES, WIDTH)
            rows.append((board, design, runs))

    print(f"\nPlace and route (N = {CLASSES}, W = {WIDTH}; YoWASP yosys + nextpnr, seeds "
          f"{' '.join(map(str, args.seeds))}; {time.monotonic() - t0:.0f} s in all)\n")
    print("| board | device | build | logic cells | unit alone (est.) | LUT4 | FF | DSP | BRAM "
          "| clock | Fmax min / median / max |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for board, design, runs in rows:
        r = runs[0]
        s = r.summary()
        f = [x.summary()["fmax_sync_mhz"] for x in runs]
        what = "whole top" if design == "top" else "unit + registered-I/O wrapper"
        alone = s.get("unit_logic_cells_est", "")
        print(f"| {board} | {r.device} | {what} | {s['logic_cells']} | {alone} | {s['luts']} | "
              f"{s['ffs']} | {s['dsps']} | {s['brams']} | {r.clk_mhz:.0f} MHz | "
              f"{min(f):.1f} / {statistics.median(f):.1f} / {max(f):.1f} MHz |")
    print()
    for board, design, runs in rows:
        if design != "unit":
            continue
        t = targets(board)
        f = min(x.summary()["fmax_sync_mhz"] for x in runs)
        line = f"{board}: unit Fmax (worst seed) {f:.1f} MHz, target ≥ {t['unit_fmax_mhz']}"
        if "unit_logic_cells" in t:
            lc = runs[0].summary()["logic_cells"]
            line += f"; unit build {lc} LC, unit alone ~{runs[0].summary()['unit_logic_cells_est']}"
            line += f" LC (target ≤ {t['unit_logic_cells']})"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
