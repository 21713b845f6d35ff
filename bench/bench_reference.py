"""Throughput of the bit-exact reference model against a literal per-vector Algorithm 1 loop.

One process, one core (BLAS/OpenMP threads pinned to 1). The bit-exact model runs one batch
of 1,000,000 vectors (N = 10, W = 16) including its Trivium keystream; the literal loop is the
paper's Algorithm 1 written per vector in plain Python/numpy scalars, timed on a slice and
reported per vector. Prints both rates and their ratio from this one run.

    python bench/bench_reference.py [--vectors 1000000] [--loop-vectors 50000]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from dynamarks.host.fixedpoint import to_fixed  # noqa: E402
from dynamarks.host.params import keygen  # noqa: E402
from dynamarks.host.reference import ReferenceUnit  # noqa: E402
from dynamarks.host.synthetic import realistic_softmax  # noqa: E402


def literal_loop(x: np.ndarray, v: np.ndarray, rng: random.Random) -> np.ndarray:
    """Algorithm 1, one vector at a time, as the paper writes it."""
    out = x.copy()
    n = x.shape[1]
    for row in out:
        i = int(np.argmax(row))
        if 0.9 < row[i] < 1.0:
            d = rng.uniform(0.01, 0.19)
            j = rng.choices(range(n), weights=v[i])[0]
            row[i] -= d
            row[j] += d
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vectors", type=int, default=1_000_000)
    ap.add_argument("--loop-vectors", type=int, default=50_000)
    args = ap.parse_args()
    x, _ = realistic_softmax(args.vectors, 10, np.random.default_rng(0))
    params = keygen(10, 16, seed=0)
    fixed = to_fixed(x, 16)

    unit = ReferenceUnit(params)
    t0 = time.perf_counter()
    out = unit.process(fixed)
    t_ref = time.perf_counter() - t0
    assert out.shape == fixed.shape

    t0 = time.perf_counter()
    to_fixed(x, 16)
    t_conv = time.perf_counter() - t0

    sub = x[: args.loop_vectors]
    t0 = time.perf_counter()
    literal_loop(sub, params.v_tables(), random.Random(0))
    t_loop = time.perf_counter() - t0

    ref_rate = args.vectors / t_ref
    loop_rate = len(sub) / t_loop
    print(f"bit-exact reference (N=10, W=16, incl. Trivium): {ref_rate:>12,.0f} vectors/s "
          f"({args.vectors:,} vectors in {t_ref:.3f} s)")
    print(f"float→fixed conversion (to_fixed):               {args.vectors / t_conv:>12,.0f} "
          "vectors/s")
    print(f"literal per-vector Algorithm 1 loop:             {loop_rate:>12,.0f} vectors/s "
          f"({len(sub):,} vectors in {t_loop:.3f} s)")
    print(f"speed-up of the bit-exact model over the loop:   {ref_rate / loop_rate:>12.1f}x")
    print(f"target ≥ 1,000,000 vectors/s: {'met' if ref_rate >= 1e6 else 'NOT met'}")


if __name__ == "__main__":
    main()
