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

        ``source.payload.fresh`` is ``~full``: the descriptor on offer is the one arriving this
        cycle (so a reader that keeps the slot's index itself can choose between that copy
        and the arriving index with registers only).

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
        m.d.comb += [
            src.valid.eq(full | snk.valid),
            src.payload.eq(Mux(full, slot, snk.payload)),
            src.payload.fresh.eq(~full),
        ]
        # Taken = valid & ready; with a descriptor offered `valid` is high, so the slot's and
        # `full`'s next values need `ready` alone (one LUT each from the registers behind
        # `sink.valid` and `ready`, not a chain through `source.valid`).
        with m.If(snk.valid & ~src.ready):
            m.d.sync += slot.eq(snk.payload)
        m.d.sync += full.eq((full | snk.valid) & ~src.ready)
        return m
