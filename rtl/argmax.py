"""Streaming argmax with SPEC §4's tie rule (lowest index wins)."""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .family import fpga_family

__all__ = ["Argmax"]


class Argmax(wiring.Component):
    """Running maximum and its index over the words of a vector, one word per cycle.

    What it does
        For each word presented with ``valid`` (``first`` marks word 0 of a vector) it folds the
        word into the result: word 0 is taken unconditionally; a later word ``k`` replaces the
        maximum only if it is strictly greater, so ties keep the lowest index
        (``i = min{k : p[k] == max(p)}``, exactly ``numpy.argmax``).

        The maximum is held inverted (``nmax = ~max``), so that ``data > max`` is the carry out
        of ``data + nmax`` (no inverter LUT in front of the carry chain) and a taken word is
        stored as ``~data``. On the ECP5 the same carry chain, two bits longer, adds
        ``first`` and ``valid`` (see ``elaborate``): its carry out is the clock enable of the
        result's flip-flops, with no LUT between them; on the iCE40 one LUT joins them. On
        the iCE40 a bit takes two logic cells: its flip-flop (with the inverting LUT) and its
        carry (nextpnr packs a carry only with a LUT that reads both of its operands); the
        two-stage version before it took four.

    Interface
        ``valid``, ``first``, ``data`` (W bits) in; ``max_next`` (W bits), ``index_next``
        (0…N−1) out: the result over the words presented before this cycle (``index_next`` a
        register, ``max_next`` a register's inverse). The block counts word positions itself
        (``count``, or the driver's own count of the words since ``first`` passed as
        ``count=``; word 0 is the one with ``first``; positions past N−1 wrap and are
        meaningless), so the driver presents a vector's words in order (stalls allowed).

    Latency
        1 cycle: a word presented in cycle t is in ``max_next``/``index_next`` from cycle t+1;
        after the last word of a vector they hold the vector's result until the next word.

    Invariants
        ``max_next == data[index_next]`` of the words presented since ``first``;
        ``index_next`` is the lowest position holding ``max_next``.
    """

    def __init__(self, classes: int, width: int, count: Signal | None = None):
        self.classes, self.width = classes, width
        super().__init__({
            "valid": In(1),
            "first": In(1),
            "data": In(width),
            "max_next": Out(width),
            "index_next": Out(range(classes)),
        })
        #: words of the current vector seen so far (the driver's, when it passes one: the
        #: driver then advances it exactly as this block would, ``Mux(first, 0, count) + 1``
        #: per word)
        self.own_count = count is None
        self.count = Signal(range(classes + 1)) if count is None else count

    def elaborate(self, platform):
        m = Module()
        w = self.width
        nmax = Signal(w, reset_less=True)            # ~max
        index = Signal(range(self.classes), reset_less=True)
        pos = Signal(range(self.classes))
        m.d.comb += pos.eq(Mux(self.first, 0, self.count))
        take = Signal()
        if self.own_count:
            with m.If(self.valid):
                m.d.sync += self.count.eq(pos + 1)
        with m.If(take):
            m.d.sync += index.eq(pos)
        if fpga_family(platform) == "ecp5":
            # take = valid & (first | data > max), all in one carry chain: the low W bits give
            # data + ~max, whose carry is data > max; bit W adds first + 1 (carry: first | gt);
            # bit W+1 adds valid + 0 (carry: valid & (first | gt)). No LUT between the chain
            # and the flip-flops' clock enable.
            m.d.comb += take.eq((Cat(self.data, self.first, self.valid)
                                 + Cat(nmax, Const(1, 1), Const(0, 1)))[w + 2])
            with m.If(take):
                m.d.sync += nmax.eq(~self.data)
        else:
            # iCE40: the chain's carry out into one LUT with `first` and `valid` (the two extra
            # carries measured slower there, where a LUT feeds the chain's data input). The
            # maximum's flip-flops take `take` through their D LUT (an OR of two choices, so
            # that yosys keeps it a LUT rather than a clock enable): `take` then drives LUT
            # inputs beside the chain instead of the clock enables of three more logic blocks
            # (worst of seeds 1-3 61.5 → 64.1 MHz with the Trivium spare's enable register).
            m.d.comb += take.eq(self.valid & (self.first | (self.data + nmax)[w]))
            m.d.sync += nmax.eq(Mux(take, 0, nmax) | Mux(take, ~self.data, 0))
        m.d.comb += [self.max_next.eq(~nmax), self.index_next.eq(index)]
        return m
