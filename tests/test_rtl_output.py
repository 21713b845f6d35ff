"""The output side's small pieces that the unit tests do not reach (a 32-bit counter's wrap)."""

import random
import sys
from pathlib import Path

from amaranth import Elaboratable, Module, Signal

sys.path.insert(0, str(Path(__file__).parent))
from rtl_support import run_sim  # noqa: E402

from dynamarks.rtl.sequencer import split_counter  # noqa: E402


class _Counter(Elaboratable):
    def __init__(self, bits):
        self.step = Signal()
        self.count = Signal(bits)

    def elaborate(self, platform):
        m = Module()
        split_counter(m, self.step, self.count)
        return m


def test_split_counter_counts_exactly_across_the_halves():
    # Oracle: a plain modular count of the strobes. Started just below the low half's wrap
    # and just below the whole counter's wrap (via the counter's reset value), with random
    # gaps, every cycle's value must equal it.
    rng = random.Random(7)
    for bits, start in ((32, 0xFFFF_FFF0), (32, 0x0001_FFF9), (9, 0x1F5)):
        dut = _Counter(bits)
        dut.count = Signal(bits, init=start)
        seen = []

        async def tb(ctx, dut=dut, bits=bits, start=start, seen=seen):
            want = start
            for _ in range(60):
                step = rng.random() < 0.7
                ctx.set(dut.step, step)
                await ctx.tick()
                want = (want + step) % (1 << bits)
                seen.append((ctx.get(dut.count), want))

        run_sim(dut, tb)
        assert all(got == want for got, want in seen), (bits, start)
