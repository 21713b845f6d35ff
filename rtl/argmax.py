"""Streaming argmax with SPEC §4's tie rule (lowest index wins)."""

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Argmax"]


class Argmax(wiring.Component):
    """Running maximum and its index over the words of a vector.

    What it does
        For each word presented with ``valid`` (``first`` marks word 0 of a vector) it folds the
        word into the running maximum: word 0 is taken unconditionally; a later word ``k``
        replaces the maximum only if it is strictly greater, so ties keep the lowest index
        (``i = min{k : p[k] == max(p)}``, exactly ``numpy.argmax``).

    Interface
        ``valid``, ``first``, ``data`` (W bits) in; ``max`` (W bits), ``index`` (0…N−1) out.
        The outputs include the word presented in the same cycle (combinational: one W-bit
        comparison and a 2:1 multiplexer after the running registers), so in the cycle the last
        word of a vector is presented they give the vector's result. The block counts word
        positions itself (word 0 is the one with ``first``; positions past N−1 wrap and are
        meaningless), so the driver presents a vector's words in order.

    Latency
        0 cycles for the presented word (combinational outputs); the running registers take it
        at the end of the cycle.

    Invariants
        ``max == data[index]`` over the words presented since ``first``; ``index`` is the lowest
        position holding ``max``. The registers' enable is ``valid & (first | data > max_r)``:
        one LUT after the comparator's carry chain.
    """

    def __init__(self, classes: int, width: int):
        self.classes, self.width = classes, width
        super().__init__({
            "valid": In(1),
            "first": In(1),
            "data": In(width),
            "max": Out(width),
            "index": Out(range(classes)),
        })
        #: words of the current vector seen so far
        self.count = Signal(range(classes + 1))

    def elaborate(self, platform):
        m = Module()
        max_r = Signal(self.width)
        index_r = Signal(range(self.classes))
        pos = Signal(range(self.classes))      # position of the word being presented
        take = Signal()
        m.d.comb += [
            pos.eq(Mux(self.first, 0, self.count)),
            take.eq(self.valid & (self.first | (self.data > max_r))),
            self.max.eq(Mux(take, self.data, max_r)),
            self.index.eq(Mux(take, pos, index_r)),
        ]
        with m.If(self.valid):
            m.d.sync += self.count.eq(pos + 1)
        with m.If(take):
            m.d.sync += [max_r.eq(self.data), index_r.eq(pos)]
        return m
