"""Streaming argmax with SPEC §4's tie rule (lowest index wins)."""

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Argmax"]


class Argmax(wiring.Component):
    """Running maximum and its index over the words of a vector.

    What it does
        For each word presented with ``valid`` (``first`` marks word 0 of a vector) it updates
        ``max`` and ``index``: word 0 is taken unconditionally; a later word ``k`` replaces the
        maximum only if it is strictly greater, so ties keep the lowest index
        (``i = min{k : p[k] == max(p)}``, exactly ``numpy.argmax``).

    Interface
        ``valid``, ``first``, ``data`` (W bits) in; ``max`` (W bits), ``index`` (0…N−1) out,
        both registers. The block counts word positions itself (word 0 is the one with
        ``first``), so the driver must present a vector's words in order, without gaps in
        ``valid`` other than stalls.

    Latency
        1 cycle: the cycle after the last word's ``valid``, ``max``/``index`` hold the
        vector's result; they stay until the next ``valid``.

    Invariants
        ``max == data[index]`` of the current vector; ``index`` is the lowest position holding
        ``max``. One W-bit comparison per word: the critical path is compare → 2:1 mux.
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
        pos = Signal(range(self.classes))      # position of the word being presented
        m.d.comb += pos.eq(Mux(self.first, 0, self.count))
        with m.If(self.valid):
            m.d.sync += self.count.eq(pos + 1)
            with m.If(self.first | (self.data > self.max)):
                m.d.sync += [self.max.eq(self.data), self.index.eq(pos)]
        return m
