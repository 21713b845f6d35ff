"""A pipeline's output register with a one-word skid register: the reusable end of a
stall-as-a-whole pipeline."""

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SkidBuffer"]


class SkidBuffer(wiring.Component):
    """Turns a pipeline that advances on a *registered* enable into a ``lib.stream`` source.

    What it does
        The pipeline in front presents one word per cycle (``i_valid``, ``i_payload``) and
        moves on whenever ``advance`` is high. The word goes into the output register when
        that is free (``~source.valid | source.ready``); otherwise into the skid register,
        and ``advance`` falls. While the skid register is full the pipeline holds; the skid
        word moves into the output register on the next ``source.ready``, and ``advance``
        rises again. So ``source.ready`` reaches only these two registers and ``advance``, a
        flip-flop — never the pipeline's enables, however long the pipeline.

    Interface
        ``i_valid`` (in), ``i_payload`` (in, ``shape``): the pipeline's last stage;
        ``advance`` (out, a register, 1 after reset): the pipeline may move on this cycle (the
        word on ``i_*`` is taken); ``source`` (out, ``stream.Signature(shape)``).

    Latency
        1 cycle: a word taken in cycle t is on ``source`` from cycle t+1 (or, if it went into
        the skid register, the cycle after the word before it is handed over).

    Invariants
        ``lib.stream`` rules: ``source.valid`` and ``source.payload`` are registers, stable
        while ``valid & ~ready``; words leave in the order they were taken, none lost or
        doubled; at most two words are held.
    """

    def __init__(self, shape):
        self.shape = shape
        super().__init__({
            "i_valid": In(1),
            "i_payload": In(shape),
            "advance": Out(1, init=1),
            "source": Out(stream.Signature(shape)),
        })

    def elaborate(self, platform):
        m = Module()
        src = self.source
        skid = Signal(self.shape)
        with m.If(~self.advance):                            # skid full
            with m.If(src.ready):
                m.d.sync += [src.payload.eq(skid), self.advance.eq(1)]
        with m.Elif(~src.valid | src.ready):                 # output register free
            m.d.sync += [src.payload.eq(self.i_payload), src.valid.eq(self.i_valid)]
        with m.Elif(self.i_valid):
            m.d.sync += [skid.eq(self.i_payload), self.advance.eq(0)]
        return m
