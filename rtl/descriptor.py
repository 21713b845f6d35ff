"""The descriptor queue between the unit's input framer and its output sequencer."""

from amaranth import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import descriptor_layout

__all__ = ["DescriptorQueue"]


class DescriptorQueue(wiring.Component):
    """One slot with a bypass: a complete vector's descriptor reaches the output side in the
    cycle it is produced, or waits in the slot.

    What it does
        The framer offers each vector's descriptor for exactly one cycle (``sink.valid``, the
        cycle after its last word, T+1). If the output side takes it then (``source.ready``),
        it goes straight through; otherwise it is stored and offered from the slot until
        taken. The framer accepts no second complete vector while one is waiting (it counts
        them), so the slot never overflows and ``sink`` is always ready.

    Interface
        ``sink``: ``In(stream.Signature(descriptor_layout(N, W), always_ready=True))``;
        ``source``: ``Out(stream.Signature(descriptor_layout(N, W)))``.

    Latency
        0 cycles (bypass): ``source.valid`` and ``source.payload`` follow ``sink`` in the same
        cycle when the slot is empty.

    Invariants
        ``source.valid`` does not depend on ``source.ready``; the payload is stable while
        ``valid & ~ready``. Precondition: ``sink.valid`` only while the slot is empty (the framer's
        count of pending vectors guarantees it).
    """

    def __init__(self, classes: int, width: int):
        self.layout = layout = descriptor_layout(classes, width)
        super().__init__({
            "sink": In(stream.Signature(layout, always_ready=True)),
            "source": Out(stream.Signature(layout)),
        })

    def elaborate(self, platform):
        m = Module()
        full = Signal()
        slot = Signal(self.layout, reset_less=True)
        src, snk = self.source, self.sink
        take = src.valid & src.ready
        m.d.comb += [
            src.valid.eq(full | snk.valid),
            src.payload.eq(Mux(full, slot, snk.payload)),
        ]
        with m.If(snk.valid & ~take):
            m.d.sync += slot.eq(snk.payload)
        m.d.sync += full.eq(Mux(take, 0, full | snk.valid))
        return m
