"""VECTORS executor: a frame buffer's words through the watermark unit and back, in place.

:class:`VectorPump` ports: ``start`` (In strobe) with ``end`` (In: one past the last payload
byte, ``HEADER_BYTES + length``), ``done`` (Out strobe), ``buf`` (a BufferPort), ``sink`` (Out
stream to ``WatermarkUnit.sink``) and ``source`` (In stream from ``WatermarkUnit.source``).

Two independent machines:

=========  ==================================================================  ===============
machine    does                                                                cycles a word
=========  ==================================================================  ===============
reader     reads the payload's little-endian ⌈W/8⌉-byte words from byte        3·⌈W/8⌉ + 1
           ``HEADER_BYTES`` on and offers them on ``sink`` (``first``/``last``
           every N words), from registers only
writer     takes each output word from ``source`` and writes it back over       ⌈W/8⌉ + 1
           the input word of the same index; ``done`` after the last
=========  ==================================================================  ===============

Output word k is written only after input word k was read, so nothing is overwritten early; both
sides wait on back-pressure, nothing is dropped. Until the unit's warm-up is done its
``sink.ready`` is low and the reader waits. Bits above W in a word's top byte are ignored on the
way in and come back 0. Invariant: every word read goes through the unit exactly once.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from dynamarks.rtl.frame_slots import BufferPort
from dynamarks.rtl.unit import word_layout
from dynamarks.wire import HEADER_BYTES, word_bytes


class VectorPump(wiring.Component):
    """Feeds a VECTORS payload through the unit and writes the results back (module docstring).
    """

    def __init__(self, classes: int, width: int, depth: int) -> None:
        self.classes, self.width, self.depth = classes, width, depth
        super().__init__({
            "start": In(1),
            "end": In(range(depth + 1)),
            "done": Out(1),
            "buf": Out(BufferPort(depth)),
            "sink": Out(stream.Signature(word_layout(width))),
            "source": In(stream.Signature(word_layout(width))),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        n, w, nb = self.classes, self.width, word_bytes(self.width)
        end = Signal(range(self.depth + 1))
        before_last = Signal(range(self.depth + 1))  # end - 2, registered: no adder in a compare
        with m.If(self.start):
            m.d.sync += [end.eq(self.end), before_last.eq(self.end - 2)]

        # ---- reader: buffer → sink
        raddr = Signal(range(self.depth + 1))
        rsh = Signal(8 * nb)
        rbyte = Signal(range(max(nb, 2)))
        rword = Signal(range(max(n, 2)))
        sink = self.sink
        m.d.comb += [self.buf.raddr.eq(raddr), sink.payload.data.eq(rsh[:w])]
        with m.FSM(name="reader"):
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [raddr.eq(HEADER_BYTES), rbyte.eq(0), rword.eq(0)]
                    m.next = "READ"
            with m.State("READ"):  # the buffer reads raddr (data two cycles later)
                m.next = "WAIT"
            with m.State("WAIT"):
                m.next = "USE"
            with m.State("USE"):
                m.d.sync += [rsh.eq(Cat(rsh[8:], self.buf.rdata)), raddr.eq(raddr + 1),
                             rbyte.eq(rbyte + 1)]
                with m.If(rbyte == nb - 1):
                    m.d.sync += [rbyte.eq(0), sink.valid.eq(1),
                                 sink.payload.first.eq(rword == 0),
                                 sink.payload.last.eq(rword == n - 1)]
                    m.next = "PUSH"
                with m.Else():
                    m.next = "READ"
            with m.State("PUSH"):
                with m.If(sink.ready):
                    m.d.sync += [sink.valid.eq(0), rword.eq(rword + 1)]
                    with m.If(rword == n - 1):
                        m.d.sync += rword.eq(0)
                    with m.If(raddr == end):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "READ"

        # ---- writer: source → buffer
        waddr = Signal(range(self.depth + 1))
        wsh = Signal(8 * nb)
        wbyte = Signal(range(max(nb, 2)))
        wlast = Signal()  # waddr == end - 1, registered with waddr (no comparator before `done`)
        src = self.source
        ready = Signal()  # source.ready, from a register
        m.d.comb += src.ready.eq(ready)
        m.d.sync += self.done.eq(0)
        with m.FSM(name="writer"):
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [waddr.eq(HEADER_BYTES), wbyte.eq(0), ready.eq(1), wlast.eq(0)]
                    m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(src.valid):  # ready is high: a transfer
                    m.d.sync += [wsh.eq(src.payload.data), wbyte.eq(0), ready.eq(0)]
                    m.next = "WRITE"
            with m.State("WRITE"):
                m.d.comb += [self.buf.we.eq(1), self.buf.waddr.eq(waddr),
                             self.buf.wdata.eq(wsh[:8])]
                m.d.sync += [wsh.eq(wsh >> 8), waddr.eq(waddr + 1), wbyte.eq(wbyte + 1),
                             wlast.eq(waddr == before_last)]
                with m.If(wbyte == nb - 1):
                    with m.If(wlast):
                        m.d.sync += self.done.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += ready.eq(1)
                        m.next = "WAIT"
        return m
