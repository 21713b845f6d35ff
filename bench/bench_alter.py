"""`dynamarks alter` end to end against the in-process core, and `dynamarks --help` against
starting Python with numpy — all figures from this one run.

1. Writes M realistic softmax rows (N = 10, float64 .npy) and a parameter file to a
   temporary directory.
2. End to end: runs ``dynamarks alter --params P --in X --out Y`` as a subprocess (Python
   start, imports, memory-mapped read, conversion, Trivium, the unit, atomic write) and
   reports vectors/s from its wall time and from its CPU time (user + system of the child;
   on a shared machine the wall time includes waiting for a core).
3. In process: the reference backend's fused float path on the same rows already in memory
   (conversion + keystream + unit + back), and the numpy composition it replaces
   (``to_fixed`` then ``ReferenceUnit.process`` then ``to_float``) for comparison.
4. Start-up: ``dynamarks --help`` against ``python -c "import numpy"`` (best of R each).

Each timing is the best of R repetitions. Targets: alter ≥ 1,000,000 vectors/s end to end
(bar 600,000); --help ≤ 5× the numpy import.

    python bench/bench_alter.py [--vectors 1000000] [--repeat 3]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from dynamarks.host.alter_float import COMPILED  # noqa: E402
from dynamarks.host.driver import open_backend  # noqa: E402
from dynamarks.host.fixedpoint import to_fixed, to_float  # noqa: E402
from dynamarks.host.params import keygen, save_params  # noqa: E402
from dynamarks.host.reference import ReferenceUnit  # noqa: E402
from dynamarks.host.synthetic import realistic_softmax  # noqa: E402

DYNAMARKS = [sys.executable, "-m", "dynamarks"]


def child(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one subprocess run; raises if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def best(f, repeat: int):
    runs = [f() for _ in range(repeat)]
    return min(runs, key=lambda r: r[0] if isinstance(r, tuple) else r)


def timed(f) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    f()
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vectors", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    m, r = args.vectors, args.repeat
    x, _ = realistic_softmax(m, 10, np.random.default_rng(0))
    params = keygen(10, 16, seed=0)
    with tempfile.TemporaryDirectory(prefix="bench-alter-") as d:
        xp, pp, yp = Path(d, "x.npy"), Path(d, "p.bin"), Path(d, "y.npy")
        np.save(xp, x)
        save_params(params, pp)
        cli = [*DYNAMARKS, "alter", "--params", str(pp), "--in", str(xp), "--out", str(yp)]
        wall, cpu = best(lambda: child(cli), r)
        y = np.load(yp)

    def core() -> None:
        with open_backend("reference", params) as b:
            b.alter_float(x)

    def composition() -> None:
        to_float(ReferenceUnit(params).process(to_fixed(x, 16)), 16)

    t_core, c_core = best(lambda: timed(core), r)
    t_comp, c_comp = timed(composition)
    expect = to_float(ReferenceUnit(params).process(to_fixed(x, 16)), 16)
    assert np.array_equal(y, expect), "the CLI's output differs from the reference"

    t_numpy = best(lambda: child([sys.executable, "-c", "import numpy"]), r)[0]
    t_help = best(lambda: child([*DYNAMARKS, "--help"]), r)[0]

    print(f"dynamarks alter, {m:,} rows N=10 W=16, best of {r} "
          f"(fused C core: {'yes' if COMPILED else 'NO, numpy fallback'}):")
    print(f"  end to end (CLI, incl. start-up and file I/O): {m / wall:>12,.0f} vectors/s wall "
          f"({wall:.3f} s), {m / cpu:>12,.0f} vectors/s CPU ({cpu:.3f} s)")
    print(f"  in process, reference backend alter_float:     {m / t_core:>12,.0f} vectors/s wall "
          f"({t_core:.3f} s), {m / c_core:>12,.0f} vectors/s CPU")
    print(f"  in process, to_fixed + ReferenceUnit + to_float: {m / t_comp:>10,.0f} vectors/s wall "
          f"({t_comp:.3f} s), {m / c_comp:>12,.0f} vectors/s CPU")
    rate = m / wall
    load = os.getloadavg()[0]
    print(f"  load average {load:.1f} on {os.cpu_count()} cores during the run (wall times "
          "include waiting for a core)")
    def verdict(v: float) -> str:
        return "met" if v >= 1e6 else ("bar met" if v >= 6e5 else "NOT met")

    print(f"  target ≥ 1,000,000 vectors/s end to end (bar 600,000): {verdict(rate)} on wall "
          f"time, {verdict(m / cpu)} on CPU time")
    print(f"start-up: dynamarks --help {t_help * 1e3:.0f} ms, python -c 'import numpy' "
          f"{t_numpy * 1e3:.0f} ms: ratio {t_help / t_numpy:.2f}x "
          f"(target ≤ 5x: {'met' if t_help <= 5 * t_numpy else 'NOT met'})")


if __name__ == "__main__":
    main()
