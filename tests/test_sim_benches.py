"""Every cocotb bench (sim/tb_*.py ``BENCHES``) on every simulator it names — what
``make sim`` runs, here under pytest (marker ``sim``).

The unit's benches check every output word against the bit-exact reference: 100,000 random
vectors for N=10, W=16 on Verilator plus N=4/W=12 and N=16/W=20, fewer on Icarus, and the
corner cases of sim/tb_unit.py. Builds are cached in build/sim (the first run compiles each
design, about a minute per Verilator build). ``DMK_SIM_SEED`` picks the cocotb seed
(default 1, so a failure reproduces); the figures the benches measure are printed.
"""

from __future__ import annotations

import os

import pytest

from dynamarks.sim.runner import discover, run_bench

pytestmark = [pytest.mark.sim, pytest.mark.slow]

SEED = int(os.environ.get("DMK_SIM_SEED", "1"))

CASES = [
    pytest.param(bench, sim, id=f"{bench.name}-{sim}")
    for bench in discover()
    for sim in bench.simulators
]


@pytest.mark.parametrize(("bench", "simulator"), CASES)
def test_bench(bench, simulator):
    result = run_bench(bench, simulator, seed=SEED)
    for name, value in sorted(result.metrics.items()):
        print(f"{bench.name} {simulator} {name} = {value}")
    print(f"{bench.name} {simulator}: build {result.build_s:.1f} s, run {result.run_s:.1f} s")
    assert result.ok, result.summary()
