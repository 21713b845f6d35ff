"""Window comparator of SPEC §9: ``alpha[i] < p[i] < beta[i]``, both ends exclusive."""

from amaranth import Module
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
        out (a register, updated only with ``en``: it holds a vector's result).

    Latency
        1 cycle, fully pipelined (a new comparison every cycle).

    Invariants
        ``inside == (alpha < value) & (value < beta)`` of the previous cycle's inputs; an empty
        window (``beta ≤ alpha + 1``) is never inside. Two W-bit comparators, no arithmetic.
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
        with m.If(self.en):
            m.d.sync += self.inside.eq((self.alpha < self.value) & (self.value < self.beta))
        return m
