"""Throughput of the driver's backends, vectors per second (a figure, never pass/fail).

    python bench/bench_backends.py [--vectors 1000000] [--classes 10] [--backends reference,rtl]
                                   [--port /dev/ttyUSB1 | --sim-board]   # serial backend

For each backend: open and configure it (time reported separately: the rtl backend's first
open compiles the Verilog with Verilator, later opens reuse the build), stream the same
softmax-like vectors through ``Backend.process`` in driver batches, check that the output
is bit-identical to the reference's, and print vectors/s (wall time; every backend runs on
one core). On a shared machine run it when the machine is otherwise idle. The issue's
target for ``rtl`` is >= 200,000 vectors/s for N = 10.

``--sim-board`` starts the simulated board (Verilator + pty, its UART line at 4 clocks a
bit) and measures the serial backend against it: the figure is the protocol stack's,
bounded by simulated UART time, not a real board's 115200 baud.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from dynamarks.host.driver import BackendError, open_backend
from dynamarks.host.fixedpoint import to_fixed
from dynamarks.host.params import keygen


def softmax_vectors(m: int, classes: int, width: int, seed: int = 0) -> np.ndarray:
    """Confident softmax rows (about 3 in 4 maxima above 0.9) as fixed-point codes."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(m, classes))
    logits[np.arange(m), rng.integers(0, classes, m)] += rng.uniform(1, 9, m)
    x = np.exp(logits - logits.max(axis=1, keepdims=True))
    return to_fixed(x / x.sum(axis=1, keepdims=True), width)


def bench(name: str, params, p: np.ndarray, reference: np.ndarray | None, **opts) -> dict:
    t0 = time.perf_counter()
    backend = open_backend(name, params, **opts)
    t_open = time.perf_counter() - t0
    with backend:
        t0 = time.perf_counter()
        out = backend.process(p)
        t_run = time.perf_counter() - t0
    identical = reference is None or bool(np.array_equal(out, reference))
    return {"backend": name, "open_s": t_open, "run_s": t_run, "vectors": len(p),
            "rate": len(p) / t_run, "identical": identical, "out": out}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=int, default=1_000_000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--backends", default="reference,rtl")
    ap.add_argument("--port", help="serial backend: device or pty")
    ap.add_argument("--sim-board", action="store_true", help="serial backend: simulated board")
    ap.add_argument("--serial-vectors", type=int, default=2000)
    args = ap.parse_args(argv)
    if args.sim_board:
        from dynamarks.sim.board_sim import SimulatedBoard

        with SimulatedBoard(args.classes, args.width) as port:
            args.port, args.sim_board = port, False
            return run(args)
    return run(args)


def run(args: argparse.Namespace) -> int:

    params = keygen(args.classes, args.width, seed=1)
    p = softmax_vectors(args.vectors, args.classes, args.width)
    names = [b for b in args.backends.split(",") if b]
    if args.port and "serial" not in names:
        names.append("serial")
    reference = None
    print(f"N={args.classes} W={args.width}, {args.vectors:,} vectors (serial: "
          f"{args.serial_vectors:,})")
    print(f"{'backend':<10} {'open s':>8} {'run s':>8} {'vectors/s':>12}  identical")
    status = 0
    for name in ["reference", *[n for n in names if n != "reference"]]:
        opts, data, ref = {}, p, reference
        if name == "serial":
            if not args.port:
                print("serial     (skipped: no --port)")
                continue
            opts, data = {"port": args.port}, p[: args.serial_vectors]
            ref = None if reference is None else reference[: args.serial_vectors]
        try:
            r = bench(name, params, data, ref, **opts)
        except BackendError as exc:
            print(f"{name:<10} (unavailable: {exc})")
            continue
        if name == "reference":
            reference = r["out"]
        print(f"{name:<10} {r['open_s']:8.2f} {r['run_s']:8.2f} {r['rate']:12,.0f}  "
              f"{'yes' if r['identical'] else 'NO'}")
        status |= not r["identical"]
    return status


if __name__ == "__main__":
    sys.exit(main())
