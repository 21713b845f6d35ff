"""Throughput of the WatermarkUnit under Verilator through the batch harness (the host's
``rtl`` backend path): vectors per second, simulated clocks per second, clocks per vector.

    python bench/bench_rtl.py [--vectors 200000] [--repeat 3] [--sizes 10x16,4x12,16x20]

Each size is compiled once (cached in build/verilator; the first build's time is printed),
configured with ``keygen(seed=0)``, warmed up with one small batch, then timed on a batch of
random vectors (sim/vectors.py's mixture) — best of ``--repeat``, in wall-clock time and in
CPU time of this process (the figure to quote from a shared, loaded machine). Every timed
batch is also checked word for word against the bit-exact reference (outside the timing).
Figures only: nothing here passes or fails on speed.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from dynamarks.host.params import keygen
from dynamarks.host.reference import ReferenceUnit
from dynamarks.host.verilated_unit import VerilatedUnit
from dynamarks.sim.vectors import random_vectors


def bench_size(classes: int, width: int, vectors: int, repeat: int) -> dict[str, float]:
    params = keygen(classes, width, seed=0)
    t0 = time.perf_counter()
    unit = VerilatedUnit(params)
    open_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    ref = ReferenceUnit(params)
    warm = random_vectors(rng, 1000, params)
    assert np.array_equal(unit.process(warm), ref.process(warm))
    best = best_cpu = float("inf")
    cycles = 0
    for _ in range(repeat):
        p = random_vectors(rng, vectors, params)
        c0 = unit.process_cycles
        t, c = time.perf_counter(), time.process_time()
        out = unit.process(p)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        cycles = unit.process_cycles - c0
        best, best_cpu = min(best, dt), min(best_cpu, dc)
        if not np.array_equal(out, ref.process(p)):
            raise SystemExit(
                f"N={classes} W={width}: the Verilated unit disagrees with the reference"
            )
    unit.close()
    return {
        "open_s": open_s,
        "vectors_per_s": vectors / best,
        "vectors_per_cpu_s": vectors / best_cpu,
        "clocks_per_s": cycles / best,
        "clocks_per_vector": cycles / vectors,
        "warmup_clocks": unit.warmup_cycles,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="10x16,4x12,16x20,64x16")
    args = parser.parse_args(argv)
    sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")]
    print(
        f"bench_rtl: WatermarkUnit under Verilator, batch harness, {args.vectors} vectors, "
        f"best of {args.repeat}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs"
    )
    head = (
        f"{'N':>3} {'W':>3} {'vectors/s':>11} {'vec/CPU-s':>11} {'Mclk/s':>7} "
        f"{'clk/vector':>10} {'start clk':>9} {'open s':>7}"
    )
    print(head)
    print("-" * len(head))
    for n, w in sizes:
        r = bench_size(n, w, args.vectors, args.repeat)
        print(
            f"{n:>3} {w:>3} {r['vectors_per_s']:>11,.0f} {r['vectors_per_cpu_s']:>11,.0f} "
            f"{r['clocks_per_s'] / 1e6:>7.2f} {r['clocks_per_vector']:>10.3f} "
            f"{r['warmup_clocks']:>9} {r['open_s']:>7.1f}",
            flush=True,
        )
    print("(vec/CPU-s: vectors per CPU-second of this process; Mclk/s: simulated clocks per")
    print(" wall second; start clk: clocks from config start to running; open s: first-time")
    print(" Verilator build, or loading the cached library)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
