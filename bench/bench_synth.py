"""Full synthesis, place and route of the unit and the whole top for both boards (``make
bench-synth``); prints the figures table for the README and writes reports/<board>/synth.{json,md}.

Usage: ``python bench/bench_synth.py [--boards icebreaker ulx3s] [--unit-only] [--seed S]``.
A benchmark, not a test: it reports the figures against the targets and never fails on them
(only on a build error). Expect a few minutes per board on a laptop, longer on a shared 2-core
machine; the first run of each YoWASP tool also compiles it (minutes, once).
"""

from __future__ import annotations

import argparse
import sys
import time

from dynamarks.rtl.platforms import BOARDS
from dynamarks.rtl.synth import CLASSES, WIDTH, check_targets, run, targets


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--boards", nargs="+", choices=sorted(BOARDS), default=["icebreaker", "ulx3s"])
    ap.add_argument("--unit-only", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    rows = []
    t0 = time.monotonic()
    for board in args.boards:
        for r in run(board, unit_only=args.unit_only, seed=args.seed):
            rows.append(r)
    print(f"\nSynthesis figures (N = {CLASSES}, W = {WIDTH}; YoWASP yosys + nextpnr, seed "
          f"{args.seed}; {time.monotonic() - t0:.0f} s in all)\n")
    print("| board | device | build | logic cells | LUT4 | FF | DSP | BRAM | clock | Fmax |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r.summary()
        what = "whole top" if r.design == "top" else "unit (+ registered-I/O wrapper)"
        print(f"| {r.board} | {r.device} | {what} | {s['logic_cells']} | {s['luts']} | "
              f"{s['ffs']} | {s['dsps']} | {s['brams']} | {r.clk_mhz:.0f} MHz | "
              f"{s['fmax_sync_mhz']:.1f} MHz |")
    print()
    for board in args.boards:
        builds = {r.design: {"summary": r.summary()} for r in rows if r.board == board}
        for name, c in check_targets(board, builds).items():
            op = "≥" if "fmax" in name else "≤"
            print(f"{board}: {name} = {c['value']:.1f} (target {op} {c['target']}): "
                  f"{'PASS' if c['pass'] else 'MISSED'}")
        if "unit" in builds:
            est = builds["unit"]["summary"].get("unit_logic_cells_est")
            print(f"{board}: unit alone, wrapper subtracted: ~{est} logic cells "
                  f"(targets: {targets(board)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
