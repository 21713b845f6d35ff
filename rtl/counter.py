"""A wide wrapping event counter whose carry chain is split in two halves."""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SplitCounter"]


class SplitCounter(wiring.Component):
    """``value += inc`` every cycle, wrapping at 2^width, with two carry chains of half length.

    What it does
        The low half adds ``inc`` (0…``max_inc``); the high half adds the low half's carry
        out, which is not taken from the low chain but from registers: ``near[k−1]`` is
        ``lo == 2^h − k`` (h = the low half's width), kept up to date from ``lo`` and ``inc``
        a cycle ahead. So both halves change in the same cycle (``value`` is always the exact
        count) and no path runs through more than h + 1 carry cells: a 32-bit counter is two
        16-bit chains (on the iCE40UP5K a 32-bit ripple counter alone takes ≈ 16 ns).

    Interface
        ``inc`` (in, 0…``max_inc``), ``value`` (out, ``width`` bits, a register; reset 0).

    Latency
        ``value`` counts ``inc`` of cycle t from cycle t+1.
    """

    def __init__(self, width: int = 32, max_inc: int = 1):
        if width < 4 or not 1 <= max_inc < 1 << (width // 2):
            raise ValueError("width ≥ 4 and 1 ≤ max_inc < 2^(width/2)")
        self.width, self.max_inc = width, max_inc
        super().__init__({"inc": In(range(max_inc + 1)), "value": Out(width)})

    def elaborate(self, platform):
        m = Module()
        h = self.width // 2
        top = 1 << h
        lo, hi = self.value[:h], self.value[h:]
        inc = self.inc
        # near[k-1] == (lo == 2^h - k): the low half carries out iff inc >= k for such a k.
        near = Signal(self.max_inc)
        carry = Signal()
        m.d.comb += carry.eq(sum((near[k - 1] & (inc >= k)) for k in range(1, self.max_inc + 1))
                             != 0)
        m.d.sync += lo.eq(lo + inc)
        with m.If(carry):
            m.d.sync += hi.eq(hi + 1)
        # Next flags: lo + inc == top - k  <=>  lo == top - k - inc (mod 2^h); inc == 0 keeps.
        for k in range(1, self.max_inc + 1):
            with m.Switch(inc):
                for i in range(1, self.max_inc + 1):
                    with m.Case(i):
                        m.d.sync += near[k - 1].eq(lo == (top - k - i) % top)
        return m
