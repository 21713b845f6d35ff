"""A pipeline's output register with a one-word skid register: the reusable end of a
stall-as-a-whole pipeline."""

from amaranth import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SkidBuffer"]


class SkidBuffer(wiring.Component):
    """Turns a pipeline that advances on a *registered* enable into a ``lib.stream`` source.

    What it does
        The pipeline in front presents one word per cycle (``i_valid``, ``i_payload``) and
        moves on whenever ``advance`` is high; the word is then written into ``word0``, the
        pipeline's output register, whose only input is ``i_payload`` (no multiplexer in front
        of it, and no other register reads the pipeline's last stage: the last stage's logic
        packs with ``word0``'s flip-flops). If ``word0`` still holds a word that stays (not
        handed over in that cycle), that word moves to ``word1`` (the skid register, loaded
        only from ``word0``). ``source`` shows ``word1`` while two words are held, else
        ``word0``. ``advance`` falls when both registers would be full, and rises again when
        ``source.ready`` frees one. So ``source.ready`` reaches only ``count``, ``word1``'s
        enable and ``advance``, a flip-flop — never the pipeline's enables, however long the
        pipeline.

    Interface
        ``i_valid`` (in), ``i_payload`` (in, ``shape``): the pipeline's last stage;
        ``advance`` (out, a register, 1 after reset): the pipeline may move on this cycle (the
        word on ``i_*`` is taken); ``advance_next`` (out, combinational: ``advance``'s input,
        its value in the next cycle — for a reader that registers a function of the next
        advance, one LUT of ``count``, ``i_valid`` and ``source.ready``); ``source`` (out,
        ``stream.Signature(shape)``).
        ``source.ready`` passes one LUT to ``count``, ``source.valid``, ``advance`` and
        ``word1``'s enable; through ``advance_next`` it may reach a reader's register inputs
        (never an enable: the sequencer's ``head1`` register is the one reader).

    Latency
        1 cycle: a word taken in cycle t is on ``source`` from cycle t+1 if it is the oldest.

    Invariants
        ``count`` (0…2) words are held: the newest in ``word0`` (``count ≥ 1``), the older in
        ``word1`` (``count = 2``). ``lib.stream`` rules: ``source.valid`` is a register;
        ``source.payload`` is a 2:1 choice between registers by a register bit, stable while
        ``valid & ~ready``; words leave in the order they were taken, none lost or doubled.
    """

    def __init__(self, shape):
        self.shape = shape
        super().__init__({
            "i_valid": In(1),
            "i_payload": In(shape),
            "advance": Out(1, init=1),
            "advance_next": Out(1),
            "source": Out(stream.Signature(shape)),
        })

    def elaborate(self, platform):
        m = Module()
        src = self.source
        # Data only, without reset (read only while `count` says they hold a word): a reset
        # would join the domain reset to their clock enables (iCE40: a LUT level between
        # `source.ready` and word1's enable).
        word0 = Signal(self.shape, name="word0", reset_less=True)   # the newest word held
        word1 = Signal(self.shape, name="word1", reset_less=True)   # the older word (two held)
        count = Signal(range(3))
        push = Signal()
        shift = Signal()
        m.d.comb += [
            push.eq(self.advance & self.i_valid),
            # word0 holds a word that is not handed over now: it moves to word1 on a push.
            # (A push needs `advance`, which is low while two words are held: count is 0 or 1
            # then, so word1's enable is one LUT of four flip-flops and `ready`.)
            shift.eq(push & count[0] & ~src.ready),
            src.payload.eq(Mux(count[1], word1, word0)),
        ]
        with m.If(push):
            m.d.sync += word0.eq(self.i_payload)
        with m.If(shift):
            m.d.sync += word1.eq(word0)
        # The next count, valid and advance, each one LUT4 of (count, i_valid, ready): with
        # count = 2, `advance` is low (no push); with count = 1 a push and a pop may cancel.
        # Written out per count rather than as count + push − pop, so that `source.ready`
        # passes one LUT on its way to these registers.
        iv, rdy = self.i_valid, src.ready
        two, one = count[1], count[0]       # count is 0, 1 or 2 (binary: 00, 01, 10)
        count_next = Signal(range(3))
        m.d.comb += [
            self.advance_next.eq(~count_next[1]),
            count_next[1].eq(~rdy & (two | (one & iv))),
            count_next[0].eq((~two & ~one & iv) | (one & (iv == rdy)) | (two & rdy)),
        ]
        m.d.sync += [
            count.eq(count_next),
            src.valid.eq(iv | two | (one & ~rdy)),
            # Full after this cycle: the pipeline holds (its word, if any, waits in O3).
            self.advance.eq(self.advance_next),
        ]
        return m
