"""Reply writer: the header (and small payload) of a reply into its frame buffer.

:class:`ReplyBuilder` ports: ``start`` (In strobe) with ``rtype`` (the reply's type byte, a
:class:`~dynamarks.wire.FrameType` reply), ``seq``, ``ftype`` (the request's type byte),
``reason`` (a NACK's reason) and ``vlen`` (a VECTORS_REPLY's payload length: the request's);
``status`` (In, ``8·STATUS_BYTES`` bits: the STATUS payload of PROTOCOL §5, byte k at bits
8k…8k+7); ``buf`` (a BufferPort; written only); ``done`` (Out strobe) with ``length`` (Out:
header and payload bytes of the reply, what the encoder sends before the CRC).

What it writes at bytes 0…: ``rtype, seq, len_lo, len_hi`` and then

=============  ===============================  ========
reply          payload written                  length
=============  ===============================  ========
ACK            ``ftype``                        1
NACK           ``reason, ftype``                2
STATUS_REPLY   the 40 ``status`` bytes          40
VECTORS_REPLY  nothing (already in place)       ``vlen``
=============  ===============================  ========

Pipeline (one byte a cycle): the byte index k → the 32-bit word ``k // 4`` of the reply image,
registered → its byte, registered into the write port. So the widest multiplexer (11 words) has a
register on each side. ``done`` one cycle after the last write; ``start`` to ``done``: bytes + 3.
The inputs must hold from ``start`` to ``done``.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from dynamarks.rtl.frame_slots import BufferPort
from dynamarks.wire import HEADER_BYTES, STATUS_BYTES, FrameType


class ReplyBuilder(wiring.Component):
    """Writes a reply's header and payload (see the module docstring)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        super().__init__({
            "start": In(1),
            "rtype": In(8),
            "seq": In(8),
            "ftype": In(8),
            "reason": In(8),
            "vlen": In(16),
            "status": In(8 * STATUS_BYTES),
            "buf": Out(BufferPort(depth)),
            "done": Out(1),
            "length": Out(range(depth + 1)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        is_status = self.rtype == FrameType.STATUS_REPLY
        is_nack = self.rtype == FrameType.NACK
        plen = Signal(16)
        with m.Switch(self.rtype):
            with m.Case(FrameType.ACK):
                m.d.comb += plen.eq(1)
            with m.Case(FrameType.NACK):
                m.d.comb += plen.eq(2)
            with m.Case(FrameType.STATUS_REPLY):
                m.d.comb += plen.eq(STATUS_BYTES)
            with m.Default():
                m.d.comb += plen.eq(self.vlen)

        # The image: header, then two bytes that depend on the reply, then status bytes 2…
        # (what depends on the reply's type is registered at start: only the word multiplexer
        # sits between registers)
        st = [self.status[8 * i:8 * i + 8] for i in range(STATUS_BYTES)]
        p0, p1 = Signal(8), Signal(8)
        p0_r, p1_r, plen_r, t_r, s_r = Signal(8), Signal(8), Signal(16), Signal(8), Signal(8)
        m.d.comb += [p0.eq(self.ftype), p1.eq(self.ftype)]
        with m.If(is_status):
            m.d.comb += [p0.eq(st[0]), p1.eq(st[1])]
        with m.Elif(is_nack):
            m.d.comb += p0.eq(self.reason)
        with m.If(self.start):
            m.d.sync += [p0_r.eq(p0), p1_r.eq(p1), plen_r.eq(plen), t_r.eq(self.rtype),
                         s_r.eq(self.seq)]
        image = [t_r, s_r, plen_r[:8], plen_r[8:], p0_r, p1_r, *st[2:]]
        image += [Const(0, 8)] * (-len(image) % 4)
        words = Array(Cat(*image[i:i + 4]) for i in range(0, len(image), 4))

        k = Signal(range(len(image) + 1))
        last = Signal(range(len(image)))
        run = Signal()
        # stage 1: the word; stage 2: the byte into the write port
        w1, a1, v1, l1 = Signal(32), Signal(range(len(image))), Signal(), Signal()
        a2, d2, v2, l2 = Signal(range(len(image))), Signal(8), Signal(), Signal()
        with m.If(self.start):
            m.d.sync += [k.eq(0), run.eq(1), last.eq(HEADER_BYTES - 1 + plen),
                         self.length.eq(HEADER_BYTES + plen)]
            with m.If(~is_status & ~is_nack & (self.rtype != FrameType.ACK)):
                m.d.sync += last.eq(HEADER_BYTES - 1)  # VECTORS_REPLY: the header only
        m.d.sync += [v1.eq(run), l1.eq(run & (k == last)), v2.eq(v1), l2.eq(v1 & l1),
                     self.done.eq(v2 & l2)]
        with m.If(run):
            m.d.sync += [w1.eq(words[k[2:]]), a1.eq(k), k.eq(k + 1)]
            with m.If(k == last):
                m.d.sync += run.eq(0)
        m.d.sync += [a2.eq(a1), d2.eq(w1.word_select(a1[:2], 8))]
        m.d.comb += [self.buf.we.eq(v2), self.buf.waddr.eq(a2), self.buf.wdata.eq(d2)]
        return m
