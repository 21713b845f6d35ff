"""The board top level: UART ↔ COBS frames ↔ frame buffers ↔ dispatcher ↔ :class:`WatermarkUnit`.

``BoardTop(classes=10, width=16, clk_freq=48e6, baud=3_000_000, max_vectors=None, slots=4)`` has
two ports, ``uart_rx`` (In 1, idle high) and ``uart_tx`` (Out 1, idle high), and speaks
docs/PROTOCOL.md (8N1 at ``baud``; the bit time is ``round(clk_freq / baud)`` cycles, at least
4). The platform wrappers (``dynamarks.rtl.platforms``) put it on a board; the simulated board
(``dynamarks.sim.board_sim``) runs it under Verilator behind a pseudo-terminal.

Components, joined with ``wiring.connect`` (one frame per buffer slot, ``slots`` in flight)::

    uart_rx → UartRx → FrameDecoder ──rx──┐                       ┌─ FrameChecker
                            │ report ──────┼───────────────────────┘   │ descriptors
                            │        FrameSlots (ring of buffers) ─ex─ Dispatcher ─ unit
    uart_tx ← UartTx ← FrameEncoder ──tx──┘                             (config, sink, source)

* :class:`~dynamarks.rtl.uart.UartRx` / :class:`~dynamarks.rtl.uart.UartTx` — the line;
* :class:`~dynamarks.rtl.framing.FrameDecoder` — COBS decoding and CRC into the slot at the ring's
  ``rx`` pointer; it accepts bytes only while that slot is free (``rx_free``), and otherwise drops
  them (``rx_dropped``) and resynchronises at the next delimiter;
* :class:`~dynamarks.rtl.frame_check.FrameChecker` — the stateless checks, a descriptor per frame;
* :class:`~dynamarks.rtl.frame_slots.FrameSlots` — ``slots`` buffers of :func:`buffer_depth`
  bytes handed from receiver to dispatcher to sender in ring order;
* :class:`~dynamarks.rtl.dispatcher.Dispatcher` — executes frames in order (ConfigWriter,
  VectorPump, ReplyBuilder), state checks, counters, the reply in place;
* two register slices (:func:`register_slice`) between the dispatcher and the unit's streams;
* :class:`~dynamarks.rtl.framing.FrameEncoder` — sends each executed slot's reply (CRC, COBS), in
  order, then frees the slot.

So a frame is received while earlier ones are executed and sent: the device advertises
``slots`` as its window in STATUS, and a host that keeps at most that many frames unanswered
never loses one (PROTOCOL §6). The throughput is the line's (PROTOCOL §7).

Buffer reads take two cycles (block RAM, then a register after the slot multiplexer), so no logic
follows a block RAM output in the same cycle. Latency (clock cycles): decoder 3 after the
delimiter; checker 4; dispatcher 3 + the engine (VECTORS ≈ (3·⌈W/8⌉ + 1) per word plus the unit's
latency and a cycle in each register slice; CONFIGURE 4 per parameter byte) + the reply (bytes +
4); encoder 3 per byte for the CRC, then the COBS scan — for a 50-vector frame at N=10, W=16 about
7,500 cycles from the request's delimiter to the reply's start bit, against 10·divisor cycles per
UART byte (160 at 48 MHz and 3 Mbaud): pipelined, it is hidden behind the next frame's reception.

Invariants: no status word, reply or port carries a parameter, the key or the IV; CONFIGURE after
LOCK is refused before it reaches the unit; a frame that fails any check never touches the unit,
so the keystream position advances only for vectors that come back in a VECTORS reply, and
VECTORS frames execute in sequence order (a frame after a refused one is refused as SEQUENCE).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from dynamarks.rtl.dispatcher import Dispatcher
from dynamarks.rtl.frame_check import FrameChecker
from dynamarks.rtl.frame_slots import FrameSlots
from dynamarks.rtl.framing import FrameDecoder, FrameEncoder, cfg_header_bytes
from dynamarks.rtl.skid import SkidBuffer
from dynamarks.rtl.uart import UartRx, UartTx, divisor_for
from dynamarks.wire import DEFAULT_SLOTS, buffer_depth, max_vectors_per_frame

#: Default line rate of a board build (PROTOCOL §1): the iCEBreaker's FT2232H and the ULX3S's
#: FT231X both take it, and 48 MHz / 3 Mbaud is an exact 16 cycles a bit.
DEFAULT_BAUD = 3_000_000


def register_slice(m: Module, name: str, upstream, downstream) -> None:
    """Joins two ``lib.stream`` interfaces (``upstream`` drives, ``downstream`` takes) through
    a :class:`~dynamarks.rtl.skid.SkidBuffer` used as a register slice: ``valid``, ``ready``
    and the payload are registers on both sides; 1 cycle of latency, one word a cycle."""
    m.submodules[name] = sl = SkidBuffer(upstream.payload.shape())
    m.d.comb += [sl.i_valid.eq(upstream.valid), sl.i_payload.eq(upstream.payload),
                 upstream.ready.eq(sl.advance),
                 downstream.valid.eq(sl.source.valid), downstream.payload.eq(sl.source.payload),
                 sl.source.ready.eq(downstream.ready)]


class BoardTop(wiring.Component):
    """UART protocol front end around the watermark unit (see the module docstring).

    Parameters: ``classes`` N, ``width`` W, ``clk_freq`` (Hz) and ``baud`` (the divisor is their
    rounded ratio, at least 4, within 2 %), ``max_vectors`` per VECTORS frame (default: as many
    as fit a buffer sized for CONFIGURE), ``slots`` (frame buffers, a power of two ≥ 2: the
    window), ``unit`` — a WatermarkUnit-compatible component to use instead of building
    ``WatermarkUnit(classes, width)``.

    Attributes after construction: ``divisor``, ``depth`` (bytes a buffer), ``max_vectors``.
    """

    def __init__(self, classes: int = 10, width: int = 16, clk_freq: float = 48e6,
                 baud: float = DEFAULT_BAUD, max_vectors: int | None = None,
                 slots: int = DEFAULT_SLOTS, unit=None) -> None:
        self.classes = classes
        self.width = width
        self.divisor = divisor_for(clk_freq, baud)
        self.max_vectors = max_vectors_per_frame(classes, width, max_vectors)
        self.depth = buffer_depth(classes, width, self.max_vectors)
        self.slots = slots
        self._unit = unit
        super().__init__({"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1)})

    def elaborate(self, platform) -> Module:
        m = Module()
        n, w, depth = self.classes, self.width, self.depth
        if self._unit is None:
            from dynamarks.rtl.unit import WatermarkUnit

            unit = WatermarkUnit(classes=n, width=w)
        else:
            unit = self._unit
        m.submodules.unit = unit
        m.submodules.rx = rx = UartRx(self.divisor)
        m.submodules.tx = tx = UartTx(self.divisor)
        m.submodules.dec = dec = FrameDecoder(depth, cfg_header_bytes(n, w))
        m.submodules.check = check = FrameChecker(n, w, depth, self.max_vectors, self.slots)
        m.submodules.slots = slots = FrameSlots(self.slots, depth)
        m.submodules.disp = disp = Dispatcher(n, w, depth, self.max_vectors, self.slots)
        m.submodules.enc = enc = FrameEncoder(depth)

        # ---- receive: line → decoder → slot at the rx pointer; report → checker
        m.d.comb += [rx.rx.eq(self.uart_rx), dec.rx_error.eq(rx.error)]
        wiring.connect(m, rx.source, dec.sink)
        wiring.connect(m, dec.buf, slots.rx)
        m.d.comb += [dec.accept.eq(slots.rx_free), slots.rx_done.eq(dec.done),
                     check.byte.eq(dec.buf.we)]
        for name in ("done", "length", "crc_ok", "framing", "overflow", "ftype", "seq",
                     "len_field", "cfg_header_ok"):
            m.d.comb += getattr(check, name).eq(getattr(dec, name))

        # ---- execute: descriptors → dispatcher → slot at the ex pointer, and the unit
        wiring.connect(m, check.source, disp.desc)
        wiring.connect(m, disp.buf, slots.ex)
        m.d.comb += [slots.ex_done.eq(disp.ex_done), slots.ex_len.eq(disp.ex_len)]
        wiring.connect(m, disp.config, unit.config)
        # (a register slice on each of the unit's streams: the unit's handshake logic sees
        # only flip-flops of its own, placed next to it, not the pump's)
        register_slice(m, "sink_slice", disp.sink, unit.sink)
        register_slice(m, "source_slice", unit.source, disp.source)

        # ---- counters kept here (the receiver's) and the unit's, for STATUS
        rx_dropped, uart_errors = Signal(32), Signal(32)
        with m.If(dec.dropped):
            m.d.sync += rx_dropped.eq(rx_dropped + 1)
        with m.If(rx.error):
            m.d.sync += uart_errors.eq(uart_errors + 1)
        m.d.comb += [disp.counters.vectors_in.eq(unit.vectors_in),
                     disp.counters.vectors_out.eq(unit.vectors_out),
                     disp.counters.rejected.eq(unit.rejected),
                     disp.counters.rx_dropped.eq(rx_dropped),
                     disp.counters.uart_errors.eq(uart_errors)]

        # ---- send: the slot at the tx pointer → encoder → line; then the slot is free
        wiring.connect(m, enc.buf, slots.tx)
        wiring.connect(m, enc.source, tx.sink)
        m.d.comb += self.uart_tx.eq(tx.tx)
        # (the encoder's start and length come from registers: the ring's pointer comparison
        # does not reach into the encoder's address logic in the same cycle; and the slot is
        # handed back by a registered strobe, so the encoder's state does not reach the ring's
        # pointers either. ``sending`` drops with that strobe, when ``tx_valid`` is up to date.)
        sending, go, tx_done = Signal(), Signal(), Signal()
        length = Signal.like(slots.tx_len)
        m.d.sync += [go.eq(0), tx_done.eq(0)]
        m.d.comb += [enc.start.eq(go), enc.length.eq(length), slots.tx_done.eq(tx_done)]
        with m.If(~sending & slots.tx_valid):
            m.d.sync += [go.eq(1), sending.eq(1), length.eq(slots.tx_len)]
        with m.If(sending & ~go & ~enc.busy & ~tx_done):
            m.d.sync += tx_done.eq(1)
        with m.If(tx_done):
            m.d.sync += sending.eq(0)
        return m
