"""Window comparator of SPEC §9: ``alpha[i] < p[i] < beta[i]``, both ends exclusive."""

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Window"]


class Window(wiring.Component):
    """Registered open-interval test ``alpha < value < beta``.

    What it does
        Compares the vector's maximum with the window of its class. Both comparisons are strict
        (SPEC §9): ``value == alpha`` and ``value == beta`` are outside. With the paper's
        ``beta = ONE``, a maximum of exactly 1.0 is outside.

    Interface
        ``value``, ``alpha``, ``beta`` (W bits, unsigned) and ``en`` (default 1) in; ``inside``
        out (the AND of two registers, updated only with ``en``: it holds a vector's result).

    Latency
        1 cycle, fully pipelined (a new comparison every cycle).

    Invariants
        ``inside == (alpha < value) & (value < beta)`` of the inputs at the last ``en``; an empty
        window (``beta ≤ alpha + 1``) is never inside. Two W-bit carry chains, each ending in
        its own flip-flop.
    """

    def __init__(self, width: int):
        self.width = width
        super().__init__({
            "value": In(width),
            "alpha": In(width),
            "beta": In(width),
            "en": In(1, init=1),
            "inside": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        w = self.width
        # Each comparison is the carry out of one W-bit addition whose operands are the table
        # field (straight from the block RAM, no LUT in front of the chain) and ~value:
        #   alpha + ~value + 1 ≥ 2^W  ⟺  alpha ≥ value   (the carry-in is the forced carry
        #                                                 out of a 1 + 1 below both LSBs)
        #   beta + ~value      ≥ 2^W  ⟺  beta > value
        # One more bit on top (0 + 1) makes the register's input the sum bit ¬carry, a LUT in
        # the chain's last cell: its flip-flop packs with it (a bare carry out would leave the
        # chain through a feed-through cell and a route to a flip-flop elsewhere). The AND of
        # the two comes after the registers.
        value_n = Signal(w)
        alpha_lt = Signal()         # alpha < value
        beta_le = Signal()          # beta ≤ value
        m.d.comb += value_n.eq(~self.value)
        one, zero = Const(1, 1), Const(0, 1)
        with m.If(self.en):
            m.d.sync += [
                alpha_lt.eq((Cat(one, self.alpha, zero) + Cat(one, value_n, one))[w + 1]),
                beta_le.eq((Cat(self.beta, zero) + Cat(value_n, one))[w]),
            ]
        m.d.comb += self.inside.eq(alpha_lt & ~beta_le)
        return m
