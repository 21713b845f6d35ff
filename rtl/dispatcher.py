"""The executor of the board: one received frame at a time, in order, through one of three engines.

:class:`Dispatcher` takes the descriptors of :class:`~dynamarks.rtl.frame_check.FrameChecker`
(``desc``, one per frame, in arrival order) and works on the frame buffer the
:class:`~dynamarks.rtl.frame_slots.FrameSlots` ring gives the executor (``buf``); when the reply
is in place it strobes ``ex_done`` with ``ex_len``. It owns the device's protocol state and the
frame counters, and contains the engines:

* :class:`~dynamarks.rtl.config_writer.ConfigWriter` (CONFIGURE; drives ``config``, the unit's
  configuration port),
* :class:`~dynamarks.rtl.vector_pump.VectorPump` (VECTORS; drives ``sink``/``source``, the
  unit's streams),
* :class:`~dynamarks.rtl.reply_builder.ReplyBuilder` (every reply's header and small payload).

Other ports: ``counters`` (In, the counters kept elsewhere: ``vectors_in``, ``vectors_out``,
``rejected`` from the unit, ``rx_dropped`` and ``uart_errors`` from the receiver) for STATUS.

Schedule (one state a cycle unless it waits):

=========  ==================================================================================
``IDLE``   takes a descriptor (verdict, type, seq, length)
``DECIDE`` the state checks of PROTOCOL §4, in order after the stateless ones: CONFIGURE after
           LOCK → LOCKED; VECTORS or LOCK before CONFIGURE → NOT_CONFIGURED; VECTORS whose
           ``seq`` is not ``vseq`` (the VECTORS frames executed since CONFIGURE, mod 256) →
           SEQUENCE; the outcome is registered
``ACT``    starts the engine (CONFIGURE: ConfigWriter; VECTORS: VectorPump), strobes LOCK, or
           goes to the reply (STATUS, NACK); counts the frame (``frames_ok``/``frames_nacked``,
           ``last_nack``, ``nacks_seen``). Every strobe to an engine and every count is a
           register set here, acting one cycle later, so no decision drives another block's
           logic in the same cycle
``CFG``    waits for the ConfigWriter (3 cycles a byte); then ``configured``, ``vseq`` ← 0
``VEC``    waits for the VectorPump (≈ 2·⌈W/8⌉ + 1 cycles a word); then ``vseq`` + 1
``REPLY``  ReplyBuilder writes the reply (one cycle a byte + 3); ``ex_done`` (registered)
=========  ==================================================================================

The buffer port is multiplexed from a register (``owner``), so no decision sits in front of
the block RAM. Invariants: a refused frame never reaches an engine, so the keystream advances
only for vectors of executed VECTORS frames, and VECTORS frames execute in ``seq`` order; nothing
that depends on the key, the IV or a parameter reaches ``status``; CONFIGURE after LOCK never
reaches the unit.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from dynamarks.rtl.config_writer import ConfigWriter
from dynamarks.rtl.frame_check import (
    ACT_CONFIGURE,
    ACT_LOCK,
    ACT_STATUS,
    ACT_VECTORS,
    descriptor_layout,
)
from dynamarks.rtl.frame_slots import BufferPort, drive_port
from dynamarks.rtl.param_store import ConfigSignature
from dynamarks.rtl.reply_builder import ReplyBuilder
from dynamarks.rtl.unit import word_layout
from dynamarks.rtl.vector_pump import VectorPump
from dynamarks.wire import HEADER_BYTES, PROTOCOL_VERSION, STATUS_BYTES, FrameType, NackReason

#: The counters kept outside the dispatcher, in STATUS order after frames_ok/frames_nacked.
EXTERNAL_COUNTERS = ("vectors_in", "vectors_out", "rejected", "rx_dropped", "uart_errors")


def _le(value, n: int) -> list:
    return [value[8 * k:8 * k + 8] for k in range(n)]


class Dispatcher(wiring.Component):
    """Executes frames in order (see the module docstring)."""

    def __init__(self, classes: int, width: int, depth: int, max_vectors: int,
                 slots: int) -> None:
        self.classes, self.width, self.depth = classes, width, depth
        self.max_vectors, self.slots = max_vectors, slots
        super().__init__({
            "desc": In(stream.Signature(descriptor_layout)),
            "buf": Out(BufferPort(depth)),
            "ex_done": Out(1),
            "ex_len": Out(range(depth + 1)),
            "sink": Out(stream.Signature(word_layout(width))),
            "source": In(stream.Signature(word_layout(width))),
            "config": Out(ConfigSignature(classes)),
            "counters": In(wiring.Signature({name: Out(32) for name in EXTERNAL_COUNTERS})),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.cfg = cfg = ConfigWriter(self.classes, self.depth)
        m.submodules.pump = pump = VectorPump(self.classes, self.width, self.depth)
        m.submodules.reply = reply = ReplyBuilder(self.depth)
        wiring.connect(m, cfg.config, wiring.flipped(self.config))
        wiring.connect(m, pump.sink, wiring.flipped(self.sink))
        wiring.connect(m, wiring.flipped(self.source), pump.source)

        # ---- protocol state and counters
        configured = Signal()
        cfg_refused = Signal()  # sticky: a CONFIGURE was refused because of the lock
        vseq = Signal(8)
        frames_ok, frames_nacked = Signal(32), Signal(32)
        last_nack, nacks_seen = Signal(8), Signal(16)
        count_ok, count_nack, nack_code = Signal(), Signal(), Signal(4)  # (registered pulses)
        cfg_go, pump_go, reply_go, lock_go = Signal(), Signal(), Signal(), Signal()
        m.d.sync += [count_ok.eq(0), count_nack.eq(0), cfg_go.eq(0), pump_go.eq(0),
                     reply_go.eq(0), lock_go.eq(0)]
        m.d.comb += [cfg.start.eq(cfg_go), pump.start.eq(pump_go), reply.start.eq(reply_go),
                     cfg.lock.eq(lock_go)]
        with m.If(count_ok):
            m.d.sync += frames_ok.eq(frames_ok + 1)
        with m.If(count_nack):
            m.d.sync += [frames_nacked.eq(frames_nacked + 1), last_nack.eq(nack_code),
                         nacks_seen.eq(nacks_seen | (Const(1, 16) << nack_code))]

        flags = Cat(configured, cfg.running, cfg.locked, cfg_refused, Const(0, 4))
        status = [Const(PROTOCOL_VERSION, 8), Const(self.classes, 8), Const(self.width, 8),
                  flags, *_le(Const(self.max_vectors, 16), 2), last_nack,
                  Const(self.slots, 8), *_le(nacks_seen, 2), vseq, Const(0, 8)]
        for counter in (frames_ok, frames_nacked,
                        *(getattr(self.counters, name) for name in EXTERNAL_COUNTERS)):
            status += _le(counter, 4)
        assert len(status) == STATUS_BYTES
        m.d.comb += reply.status.eq(Cat(*status))

        m.d.sync += self.ex_done.eq(0)

        # ---- the frame being executed
        d = Signal(descriptor_layout)
        act = Signal(4)  # a NackReason or an ACT_* code
        m.d.comb += [reply.seq.eq(d.seq), reply.ftype.eq(d.ftype), reply.vlen.eq(d.length),
                     pump.end.eq(HEADER_BYTES + d.length)]

        owner = Signal(2)  # which engine drives the buffer port: 0 none, 1 cfg, 2 pump, 3 reply
        with m.Switch(owner):
            for code, engine in ((1, cfg), (2, pump), (3, reply)):
                with m.Case(code):
                    drive_port(m, wiring.flipped(self.buf), engine.buf)

        def to_reply(rtype: FrameType, reason: int = 0) -> None:
            m.d.sync += [reply.rtype.eq(rtype), reply.reason.eq(reason), owner.eq(3),
                         reply_go.eq(1)]
            if rtype == FrameType.NACK:
                m.d.sync += [count_nack.eq(1), nack_code.eq(reason)]
            else:
                m.d.sync += count_ok.eq(1)
            m.next = "REPLY"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.desc.ready.eq(1)
                with m.If(self.desc.valid):
                    m.d.sync += d.eq(self.desc.payload)
                    m.next = "DECIDE"
            with m.State("DECIDE"):
                m.d.sync += act.eq(d.verdict)
                with m.If((d.verdict == ACT_CONFIGURE) & cfg.locked):
                    m.d.sync += act.eq(NackReason.LOCKED)
                with m.If(((d.verdict == ACT_VECTORS) | (d.verdict == ACT_LOCK))
                          & ~configured):
                    m.d.sync += act.eq(NackReason.NOT_CONFIGURED)
                with m.Elif((d.verdict == ACT_VECTORS) & (d.seq != vseq)):
                    m.d.sync += act.eq(NackReason.SEQUENCE)
                m.next = "ACT"
            with m.State("ACT"):
                with m.If(act == ACT_CONFIGURE):
                    m.d.sync += [cfg_go.eq(1), configured.eq(0), owner.eq(1)]
                    m.next = "CFG"
                with m.Elif(act == ACT_VECTORS):
                    m.d.sync += [pump_go.eq(1), owner.eq(2)]
                    m.next = "VEC"
                with m.Elif(act == ACT_LOCK):
                    m.d.sync += lock_go.eq(1)
                    to_reply(FrameType.ACK)
                with m.Elif(act == ACT_STATUS):
                    to_reply(FrameType.STATUS_REPLY)
                with m.Else():
                    with m.If(act == NackReason.LOCKED):
                        m.d.sync += cfg_refused.eq(1)
                    to_reply(FrameType.NACK, act)
            with m.State("CFG"):
                with m.If(cfg.done):
                    m.d.sync += [configured.eq(1), vseq.eq(0)]
                    to_reply(FrameType.ACK)
            with m.State("VEC"):
                with m.If(pump.done):
                    m.d.sync += vseq.eq(vseq + 1)
                    to_reply(FrameType.VECTORS_REPLY)
            with m.State("REPLY"):  # reply_go was set on the way here
                with m.If(reply.done):
                    m.d.sync += [self.ex_done.eq(1), self.ex_len.eq(reply.length), owner.eq(0)]
                    m.next = "DONE"
            with m.State("DONE"):  # ex_done is high: the slot goes to the sender
                m.next = "IDLE"
        return m
