"""PowerOnReset: the board's reset is held until LOCK has been seen for the stated cycles.

Oracle: the class contract counted by hand — ``rst`` falls on the edge ``cycles + 1`` after
the first edge that samples ``lock`` high, and rises again (restarting the count) when ``lock``
drops.
"""

import pytest
from amaranth.sim import Simulator

from dynamarks.rtl.platforms import PowerOnReset


def _run(cycles: int, lock_pattern: list[int]) -> list[int]:
    dut = PowerOnReset(cycles)
    seen: list[int] = []

    async def bench(ctx):
        for lk in lock_pattern:
            ctx.set(dut.lock, lk)
            await ctx.tick()
            seen.append(ctx.get(dut.rst))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return seen


@pytest.mark.parametrize("cycles", [1, 2, 5, 37])
def test_released_after_cycles_and_synchroniser(cycles):
    rst = _run(cycles, [0] * 3 + [1] * (cycles + 6))
    # edges 1..3 sample lock low; edge 4 is the first to sample it high
    first_low = rst.index(0) + 1
    assert first_low == 4 + cycles + 1
    assert all(rst[:first_low - 1]) and not any(rst[first_low - 1:])


def test_lock_drop_restarts():
    cycles = 4
    pattern = [1] * 10 + [0] + [1] * 10
    rst = _run(cycles, pattern)
    assert rst[:cycles + 1] == [1] * (cycles + 1) and rst[cycles + 1] == 0
    # the drop sampled at edge 11 reaches the synchroniser's output at edge 13: reset again
    assert rst[12] == 1
    # then the count restarts once lock is seen again (edge 12 samples it high)
    assert rst.index(0, 12) + 1 == 12 + cycles + 1


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_rejects_zero_cycles():
    with pytest.raises(ValueError, match="cycles"):
        PowerOnReset(0)
