"""Streaming argmax with SPEC §4's tie rule (lowest index wins)."""

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Argmax"]


class Argmax(wiring.Component):
    """Running maximum and its index over the words of a vector, in two pipeline stages.

    What it does
        For each word presented with ``valid`` (``first`` marks word 0 of a vector) it folds the
        word into ``max``/``index``: word 0 is taken unconditionally; a later word ``k``
        replaces the maximum only if it is strictly greater, so ties keep the lowest index
        (``i = min{k : p[k] == max(p)}``, exactly ``numpy.argmax``).

        Stage 1 registers the word with ``take = first | data > max'`` where ``max'`` is the
        running maximum including the word in stage 2 (forwarded: one comparator against
        ``take ? data_r : max``, the 2:1 choice made from registers before the carry chain);
        stage 2 updates ``max``/``index`` from the stage-1 registers when ``take``, a register.
        So neither the comparator's carry chain nor the sink's handshake reaches the enable of
        the 20-odd result flip-flops.

    Interface
        ``valid``, ``first``, ``data`` (W bits) in; ``max`` (W bits), ``index`` (0…N−1) out,
        both registers; ``max_next``, ``index_next``: their values of the next cycle, one 2:1
        multiplexer from registers (a word presented in cycle t is in them from cycle t+1).
        The block counts word positions itself (word 0 is the one with
        ``first``; positions past N−1 wrap and are meaningless), so the driver presents a
        vector's words in order (stalls allowed).

    Latency
        2 cycles: a word presented in cycle t is in ``max``/``index`` from cycle t+2; after the
        last word of a vector they hold the vector's result until the next word arrives.

    Invariants
        ``max == data[index]`` of the words presented since ``first``; ``index`` is the lowest
        position holding ``max``.
    """

    def __init__(self, classes: int, width: int):
        self.classes, self.width = classes, width
        super().__init__({
            "valid": In(1),
            "first": In(1),
            "data": In(width),
            "max": Out(width),
            "index": Out(range(classes)),
            "max_next": Out(width),
            "index_next": Out(range(classes)),
        })
        #: words of the current vector seen so far (stage 1)
        self.count = Signal(range(classes + 1))

    def elaborate(self, platform):
        m = Module()
        # Stage 1 registers (updated only with `valid`): the word, its position, whether it
        # starts a vector, and whether it beats the running maximum including the word before
        # it (forwarded from stage 2).
        data_r = Signal(self.width, reset_less=True)
        pos_r = Signal(range(self.classes), reset_less=True)
        pos = Signal(range(self.classes))
        m.d.comb += pos.eq(Mux(self.first, 0, self.count))
        # Stage 2 takes the stage-1 word when it starts a vector or beats the maximum. After
        # an idle cycle the stage-1 registers still hold the last word: taking it again changes
        # nothing, so `valid` need not appear here.
        # `take` (the stage-1 word starts a vector or beats the maximum) is a register. (No
        # reset: after a reset it may say "take" once more for a stale word, which only
        # rewrites max/index before the next vector's `first` overwrites them anyway.)
        take = Signal(reset_less=True)
        # The forwarding choice before one comparator: each bit of the operand is a 3-input
        # function of data_r, max and take (one LUT, in parallel with the input word's
        # arrival), and the carry chain's output goes (through one OR) into `take`.
        gt_fwd = self.data > Mux(take, data_r, self.max)
        with m.If(self.valid):
            m.d.sync += [
                self.count.eq(pos + 1), data_r.eq(self.data), pos_r.eq(pos),
                take.eq(self.first | gt_fwd),
            ]
        # Stage 2: the running result.
        with m.If(take):
            m.d.sync += [self.max.eq(data_r), self.index.eq(pos_r)]
        # What max/index will be next cycle (a 2:1 choice between registers).
        m.d.comb += [self.max_next.eq(Mux(take, data_r, self.max)),
                     self.index_next.eq(Mux(take, pos_r, self.index))]
        return m
