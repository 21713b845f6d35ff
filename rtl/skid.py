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
        moves on whenever ``advance`` is high; the word is then written into one of two
        registers (a two-entry ring: no multiplexer in front of them, so the pipeline's last
        stage ends right at a flip-flop). ``source`` shows the older of the held words.
        ``advance`` falls when both registers would be full, and rises again when
        ``source.ready`` frees one. So ``source.ready`` reaches only the ring's pointers and
        ``advance``, a flip-flop — never the pipeline's enables, however long the pipeline.

    Interface
        ``i_valid`` (in), ``i_payload`` (in, ``shape``): the pipeline's last stage;
        ``advance`` (out, a register, 1 after reset): the pipeline may move on this cycle (the
        word on ``i_*`` is taken); ``advance_next`` (out): its value in the next cycle (for
        registers that must know one cycle ahead); ``source`` (out,
        ``stream.Signature(shape)``).

    Latency
        1 cycle: a word taken in cycle t is on ``source`` from cycle t+1 if it is the oldest.

    Invariants
        ``lib.stream`` rules: ``source.valid`` is a register; ``source.payload`` is a 2:1
        choice between registers by a register, stable while ``valid & ~ready``; words leave
        in the order they were taken, none lost or doubled; at most two words are held.
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
        regs = [Signal(self.shape, name=f"word{k}") for k in range(2)]
        wp = Signal()           # ring entry the next word goes into
        rp = Signal()           # ring entry on `source`
        count = Signal(range(3))
        push = Signal()
        pop = Signal()
        m.d.comb += [
            push.eq(self.advance & self.i_valid),
            pop.eq(src.valid & src.ready),
            src.payload.eq(Mux(rp, regs[1], regs[0])),
        ]
        for k in range(2):
            with m.If(push & (wp == k)):
                m.d.sync += regs[k].eq(self.i_payload)
        count_next = Signal(range(3))
        m.d.comb += [
            count_next.eq(count + push - pop),
            # Full after this cycle: the pipeline holds (its word, if any, waits in O3).
            self.advance_next.eq(count_next != 2),
        ]
        m.d.sync += [
            count.eq(count_next),
            src.valid.eq(count_next != 0),
            wp.eq(wp ^ push),
            rp.eq(rp ^ pop),
            self.advance.eq(self.advance_next),
        ]
        return m
