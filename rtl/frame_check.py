"""The checks of docs/PROTOCOL.md §4 that depend on the frame alone, and the frame's descriptor.

:class:`FrameChecker` watches a :class:`~dynamarks.rtl.framing.FrameDecoder`: its per-frame
report (``done`` with ``length``, ``crc_ok``, ``framing``, ``overflow``, ``ftype``, ``seq``,
``len_field``, ``cfg_header_ok``) and ``byte`` (a strobe per decoded byte written, for the
whole-number-of-vectors check). For every frame it pushes one :data:`descriptor_layout` entry
into ``source`` (a stream, through a FIFO of ``slots`` entries: one per frame buffer, so it
cannot overflow while the buffers are handed out in ring order):

* ``verdict`` — the first failing stateless check as a :class:`~dynamarks.wire.NackReason`
  (FRAMING, OVERFLOW, SHORT, CRC, LENGTH, TYPE, CLASSES), else what the frame asks for:
  :data:`ACT_CONFIGURE`, :data:`ACT_VECTORS`, :data:`ACT_LOCK` or :data:`ACT_STATUS`. The checks
  that depend on the device's state (LOCKED, NOT_CONFIGURED, SEQUENCE) are the dispatcher's,
  in the order of the frames;
* ``ftype``, ``seq`` and ``length`` (the header's length field) for the reply.

VECTORS payloads are a whole number of vectors when the decoded byte count ``c`` (header and
CRC included) satisfies ``c mod vbytes == 6 mod vbytes``; a counter modulo ``vbytes`` and a
count of whole vectors run while the frame arrives, so no divider and no loop is needed.

Pipeline: ``done`` (cycle 0) → the check bits registered (1) → length field + 6 registered (2)
→ the length check registered (3) → the verdict pushed (3, into the FIFO at the clock edge
that ends it). The decoder's report
holds until the next frame's first byte; frames are at least six UART bytes apart, so the stages
never hold two frames.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from dynamarks.wire import (
    FRAME_OVERHEAD,
    FrameType,
    NackReason,
    config_bytes,
    word_bytes,
)

#: Verdicts other than a NackReason (whose codes are 1..10): what an accepted frame asks for.
ACT_CONFIGURE, ACT_VECTORS, ACT_LOCK, ACT_STATUS = 12, 13, 14, 15

descriptor_layout = data.StructLayout({
    "verdict": unsigned(4),
    "ftype": unsigned(8),
    "seq": unsigned(8),
    "length": unsigned(16),
})


def decoder_report(depth: int) -> dict:
    """The decoder's per-frame report, as inputs (names as :class:`FrameDecoder`'s outputs)."""
    return {
        "done": In(1),
        "length": In(range(depth + 2)),
        "crc_ok": In(1),
        "framing": In(1),
        "overflow": In(1),
        "ftype": In(8),
        "seq": In(8),
        "len_field": In(16),
        "cfg_header_ok": In(1),
    }


class FrameChecker(wiring.Component):
    """Stateless frame checks into a descriptor stream (see the module docstring)."""

    def __init__(self, classes: int, width: int, depth: int, max_vectors: int,
                 slots: int) -> None:
        self.classes, self.width, self.depth = classes, width, depth
        self.max_vectors, self.slots = max_vectors, slots
        super().__init__({
            **decoder_report(depth),
            "byte": In(1),
            "source": Out(stream.Signature(descriptor_layout)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        vbytes = self.classes * word_bytes(self.width)
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=descriptor_layout.size,
                                                    depth=self.slots)
        m.d.comb += [self.source.valid.eq(fifo.r_rdy), self.source.payload.eq(fifo.r_data),
                     fifo.r_en.eq(self.source.ready)]

        # Whole vectors so far: the decoded byte count modulo vbytes, and its quotient
        # (saturating above max_vectors + 6 // vbytes: anything more is refused anyway).
        phase = Signal(range(vbytes))
        top = self.max_vectors + FRAME_OVERHEAD // vbytes + 1
        whole = Signal(range(top + 1))
        with m.If(self.byte):
            m.d.sync += phase.eq(phase + 1)
            with m.If(phase == vbytes - 1):
                m.d.sync += phase.eq(0)
                with m.If(whole != top):
                    m.d.sync += whole.eq(whole + 1)
        with m.If(self.done):
            m.d.sync += [phase.eq(0), whole.eq(0)]
        vectors = whole - FRAME_OVERHEAD // vbytes  # the payload's vectors, when whole

        # Stage 1: the comparisons, registered.
        checks = {
            "framing": self.framing,
            "overflow": self.overflow,
            "short": self.length < FRAME_OVERHEAD,
            "crc": ~self.crc_ok,
            "cfg": self.ftype == FrameType.CONFIGURE,
            "vec": self.ftype == FrameType.VECTORS,
            "lock": self.ftype == FrameType.LOCK,
            "status": self.ftype == FrameType.STATUS,
            "cfg_bad": (self.len_field != config_bytes(self.classes)) | ~self.cfg_header_ok,
            "vec_bad": ((phase != FRAME_OVERHEAD % vbytes) | (vectors == 0)
                        | (vectors > self.max_vectors)),
            "nonempty": self.len_field != 0,
        }
        f = {name: Signal(name=f"chk_{name}") for name in [*checks, "length"]}
        s1, s2, s3 = Signal(), Signal(), Signal()
        m.d.sync += [s1.eq(self.done), s2.eq(s1), s3.eq(s2)]
        with m.If(self.done):
            m.d.sync += [f[name].eq(value) for name, value in checks.items()]
        # (the length field against the decoded length has two stages of its own, the adder
        # and then the comparison: the report holds until the next frame starts)
        len_plus = Signal(17)
        with m.If(s1):
            m.d.sync += len_plus.eq(self.len_field + FRAME_OVERHEAD)
        with m.If(s2):
            m.d.sync += f["length"].eq(len_plus != self.length)

        # Last stage: the first failing check, or the action; into the FIFO.
        verdict = Signal(4)
        with m.If(f["framing"]):
            m.d.comb += verdict.eq(NackReason.FRAMING)
        with m.Elif(f["overflow"]):
            m.d.comb += verdict.eq(NackReason.OVERFLOW)
        with m.Elif(f["short"]):
            m.d.comb += verdict.eq(NackReason.SHORT)
        with m.Elif(f["crc"]):
            m.d.comb += verdict.eq(NackReason.CRC)
        with m.Elif(f["length"]):
            m.d.comb += verdict.eq(NackReason.LENGTH)
        with m.Elif(f["cfg"]):
            m.d.comb += verdict.eq(ACT_CONFIGURE)
            with m.If(f["cfg_bad"]):
                m.d.comb += verdict.eq(NackReason.CLASSES)
        with m.Elif(f["vec"]):
            m.d.comb += verdict.eq(ACT_VECTORS)
            with m.If(f["vec_bad"]):
                m.d.comb += verdict.eq(NackReason.CLASSES)
        with m.Elif(f["lock"] | f["status"]):
            m.d.comb += verdict.eq(ACT_LOCK)
            with m.If(f["status"]):
                m.d.comb += verdict.eq(ACT_STATUS)
            with m.If(f["nonempty"]):
                m.d.comb += verdict.eq(NackReason.CLASSES)
        with m.Else():
            m.d.comb += verdict.eq(NackReason.TYPE)
        desc = data.View(descriptor_layout, fifo.w_data)
        m.d.comb += [fifo.w_en.eq(s3), desc.verdict.eq(verdict), desc.ftype.eq(self.ftype),
                     desc.seq.eq(self.seq), desc.length.eq(self.len_field)]
        return m
