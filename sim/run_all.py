"""``make sim``: run every cocotb bench on every simulator it names and print a summary.

    python -m dynamarks.sim.run_all [--sim icarus,verilator] [--bench unit_n10] [--quick]

Benches are discovered from the ``BENCHES`` lists of ``sim/tb_*.py`` (see
:mod:`dynamarks.sim.runner`). Builds are cached in ``build/sim``; the first run compiles
(Verilator: about a minute per design), later ones start at once. The exit status is 0 only
when every bench ran and every test passed.
"""

from __future__ import annotations

import argparse
import sys
import time

from dynamarks.sim import toolchain
from dynamarks.sim.runner import BenchResult, discover, run_bench

#: Metrics worth a column in the summary (name in the bench -> short label).
HEADLINE = {
    "throughput.cycles_per_vector_in": "cyc/vec",
    "latency.first_in_to_first_out_max": "latency",
    "random.vectors": "vectors",
}


def _row(r: BenchResult) -> list[str]:
    notes = " ".join(f"{label}={r.metrics[k]:g}" for k, label in HEADLINE.items() if k in r.metrics)
    if r.error:
        notes = r.error.splitlines()[0][:60]
    return [
        r.bench,
        r.simulator,
        str(r.passed),
        str(r.failed if not r.error else "error"),
        f"{r.build_s:.0f}",
        f"{r.run_s:.0f}",
        notes,
    ]


def print_table(results: list[BenchResult], out=sys.stdout) -> None:
    head = ["bench", "simulator", "passed", "failed", "build s", "run s", "figures"]
    rows = [head] + [_row(r) for r in results]
    widths = [max(len(row[c]) for row in rows) for c in range(len(head))]
    for k, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)), file=out)
        if k == 0:
            print("  ".join("-" * w for w in widths), file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dynamarks.sim.run_all", description=__doc__)
    parser.add_argument("--sim", default=",".join(toolchain.SIMULATORS), help="simulators")
    parser.add_argument("--bench", default="", help="run only benches whose name contains this")
    parser.add_argument("--quick", action="store_true", help="200 random vectors per bench")
    parser.add_argument("--seed", type=int, default=None, help="cocotb random seed")
    args = parser.parse_args(argv)
    sims = [s for s in args.sim.split(",") if s]
    extra = {"DMK_VECTORS": "200"} if args.quick else {}
    results: list[BenchResult] = []
    t0 = time.monotonic()
    for bench in discover():
        if args.bench not in bench.name:
            continue
        for sim in sims:
            if sim not in bench.simulators:
                continue
            print(f"run_all: {bench.name} on {sim} ...", flush=True)
            r = run_bench(bench, sim, seed=args.seed, extra_env=extra)
            results.append(r)
            status = "ok" if r.ok else "FAILED"
            print(f"run_all: {bench.name} on {sim}: {status} ({r.build_s + r.run_s:.0f} s)")
            if not r.ok:
                print(r.summary(), file=sys.stderr)
    print()
    print_table(results)
    bad = [r for r in results if not r.ok]
    print(
        f"\n{len(results) - len(bad)}/{len(results)} bench runs passed in "
        f"{time.monotonic() - t0:.0f} s"
    )
    return 1 if bad or not results else 0


if __name__ == "__main__":
    sys.exit(main())
