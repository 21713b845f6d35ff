"""The board top level: UART ↔ COBS frames ↔ command dispatcher ↔ :class:`WatermarkUnit`.

``BoardTop(classes=10, width=16, clk_freq=48e6, baud=115200, max_vectors=None)`` has two ports,
``uart_rx`` (In 1, idle high) and ``uart_tx`` (Out 1, idle high), and speaks the protocol of
docs/PROTOCOL.md (8N1 at ``baud``; the clock divisor is ``round(clk_freq / baud)``, at least 4).
The platform wrappers (``dynamarks.rtl.platforms``) put it on a board; the simulated board
(``dynamarks.sim.board_sim``) runs it under Verilator behind a pseudo-terminal.

Data path::

    uart_rx → UartRx → FrameDecoder ─┐               ┌→ WatermarkUnit.sink
                                     ├→ frame buffer ┤      (vectors)
    uart_tx ← UartTx ← FrameEncoder ─┘  (8-bit RAM)  └← WatermarkUnit.source

One frame buffer of :func:`~dynamarks.rtl.wire.buffer_depth` bytes (1,024 for N=10, W=16: two
iCE40 block RAMs) holds the frame being received, is executed in place, and holds the reply
while it is sent. The dispatcher is a single FSM:

``IDLE``   receiving (the decoder writes the buffer). On a complete frame the checks' inputs
           (comparisons of the length and type) are registered, and: ``EVAL``.
``EVAL``   applies the checks of docs/PROTOCOL.md §4 in order (framing, overflow, short, CRC,
           length, type, payload shape, lock/configured state) into a register, and ``ACT``
           acts on it. A failing frame gets a NACK with the first reason that applies, is
           counted (``frames_nacked``, ``last_nack``, ``nacks_seen``) and never reaches the
           unit. VECTORS checks its length is a whole number of vectors by repeated
           subtraction (2 cycles a vector, no divider).
``CFG``    CONFIGURE: reads the SPEC §3.2 words after the 8-byte header (key, IV, class tables)
           and writes each to its address in the unit's configuration map (rtl/param_store.py),
           then strobes ``config.start`` (key load and warm-up). The encoding's own CRC-32 is
           not checked here: the frame CRC-16 protects the transfer and the host validated the
           set.
``VEC``    VECTORS: a reader turns the payload's little-endian ceil(W/8)-byte words into the
           unit's sink stream (``first``/``last`` every N words); a writer puts the unit's
           output words back in place (output word k is written after input word k was read,
           so nothing is overwritten early). Back-pressure on both sides, nothing dropped.
           Until the unit's warm-up is done its ``sink.ready`` is low and the reader waits.
``REPLY``  writes the reply header (and, for ACK/NACK/STATUS, its payload) into the buffer.
``SEND``   the encoder adds the CRC and sends the COBS block and delimiter; then ``IDLE``.

Every frame with at least one byte before its delimiter gets exactly one reply, in order; the
reply carries the request's sequence byte. Bytes that arrive while the dispatcher is not in
``IDLE`` (a host that did not wait for the reply) are dropped, counted in ``rx_dropped``, and the
receiver resynchronises on the next delimiter.

Latency (clock cycles, from the delimiter of a request to the start bit of its reply): EVAL 3
(VECTORS: plus two per vector for the whole-number check), CFG 3 per parameter byte, VEC about
(2·⌈W/8⌉ + 1) per word plus the unit's latency, REPLY 1 per reply byte written plus 1, the encoder's
CRC 2 per frame byte, then the scan of the first COBS block (≤ 2·254) — for a 50-vector frame
at N=10, W=16 about 5,000 cycles, against 10·divisor cycles for every UART byte.

Invariants: no status word, reply or port carries a parameter, the key or the IV (the STATUS
payload is counters and flags only); CONFIGURE after LOCK is refused before it reaches the
unit; a frame that fails any check never touches the unit, so the keystream position advances
only for vectors that come back in a VECTORS reply.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from dynamarks.rtl.framing import FrameDecoder, FrameEncoder, cfg_header_bytes
from dynamarks.rtl.param_store import (
    SPACE_C,
    SPACE_KEY,
    SPACE_WINDOW,
    class_bits,
    config_addr_width,
)
from dynamarks.rtl.uart import UartRx, UartTx, divisor_for
from dynamarks.rtl.wire import (
    HEADER_BYTES,
    PARAMS_HEADER_BYTES,
    PROTOCOL_VERSION,
    STATUS_BYTES,
    FrameType,
    NackReason,
    buffer_depth,
    config_bytes,
    config_words,
    max_vectors_per_frame,
    word_bytes,
)

#: EVAL's decisions other than a NACK (NackReason codes are 1..9).
ACT_CONFIGURE, ACT_VECTORS, ACT_LOCK, ACT_STATUS = 10, 11, 12, 13


def _le_bytes(value, n: int) -> list:
    return [value[8 * k:8 * k + 8] for k in range(n)]


class BoardTop(wiring.Component):
    """UART protocol front end around the watermark unit (see the module docstring).

    Parameters: ``classes`` N, ``width`` W, ``clk_freq`` (Hz) and ``baud`` (the divisor is their
    rounded ratio, at least 4, within 2 %), ``max_vectors`` per VECTORS frame (default: as many
    as fit a buffer sized for CONFIGURE), ``unit`` — a WatermarkUnit-compatible component to use
    instead of building ``WatermarkUnit(classes, width)`` (for tests of the protocol path).

    Attributes after construction: ``divisor``, ``depth`` (buffer bytes), ``max_vectors``.
    """

    def __init__(self, classes: int = 10, width: int = 16, clk_freq: float = 48e6,
                 baud: float = 115200, max_vectors: int | None = None, unit=None) -> None:
        self.classes = classes
        self.width = width
        self.divisor = divisor_for(clk_freq, baud)
        self.max_vectors = max_vectors_per_frame(classes, width, max_vectors)
        self.depth = buffer_depth(classes, width, self.max_vectors)
        self._unit = unit
        super().__init__({"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1)})

    def elaborate(self, platform) -> Module:
        m = Module()
        n, w = self.classes, self.width
        nb = word_bytes(w)
        vbytes = n * nb
        depth = self.depth

        if self._unit is None:
            from dynamarks.rtl.unit import WatermarkUnit

            unit = WatermarkUnit(classes=n, width=w)
        else:
            unit = self._unit
        m.submodules.unit = unit
        m.submodules.rx = rx = UartRx(self.divisor)
        m.submodules.tx = tx = UartTx(self.divisor)
        m.submodules.dec = dec = FrameDecoder(depth, cfg_header_bytes(n, w))
        m.submodules.enc = enc = FrameEncoder(depth)
        m.submodules.buf = buf = Memory(shape=8, depth=depth, init=[])
        rp = buf.read_port()
        wp = buf.write_port()

        m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx)]
        wiring.connect(m, rx.source, dec.sink)
        wiring.connect(m, enc.source, tx.sink)
        m.d.comb += [dec.rx_error.eq(rx.error), enc.rd_data.eq(rp.data)]

        # ------------------------------------------------------------------ counters and flags
        frames_ok = Signal(32)
        frames_nacked = Signal(32)
        rx_dropped = Signal(32)
        uart_errors = Signal(32)
        last_nack = Signal(8)
        nacks_seen = Signal(16)
        configured = Signal()
        with m.If(dec.dropped):
            m.d.sync += rx_dropped.eq(rx_dropped + 1)
        with m.If(rx.error):
            m.d.sync += uart_errors.eq(uart_errors + 1)

        # ------------------------------------------------------------------ reply builder state
        reason = Signal(8)
        rtype = Signal(8)  # reply type byte
        rlen = Signal(16)  # reply payload length (header field)
        rlast = Signal(range(HEADER_BYTES + STATUS_BYTES))  # the last byte REPLY writes
        k = Signal(range(HEADER_BYTES + STATUS_BYTES + 1))
        is_status = Signal()
        is_nack = Signal()

        cfg_refused = Signal()  # sticky: a CONFIGURE was refused because of the lock
        flags = Cat(configured, unit.config.running, unit.config.locked, cfg_refused,
                    Const(0, 4))
        status_bytes = [
            Const(PROTOCOL_VERSION, 8), Const(n, 8), Const(w, 8), flags,
            *_le_bytes(Const(self.max_vectors, 16), 2), last_nack, Const(0, 8),
            *_le_bytes(nacks_seen, 2), Const(0, 8), Const(0, 8),
        ]
        for counter in (frames_ok, frames_nacked, unit.vectors_in, unit.vectors_out,
                        unit.rejected, rx_dropped, uart_errors):
            status_bytes += _le_bytes(counter, 4)
        assert len(status_bytes) == STATUS_BYTES
        entry4 = Signal(8)
        entry5 = Signal(8)
        m.d.comb += [
            entry4.eq(status_bytes[0]),
            entry5.eq(status_bytes[1]),
        ]
        with m.If(~is_status):
            m.d.comb += [entry4.eq(reason), entry5.eq(dec.ftype)]
            with m.If(~is_nack):
                m.d.comb += entry4.eq(dec.ftype)
        reply_bytes = [rtype, dec.seq, rlen[:8], rlen[8:], entry4, entry5, *status_bytes[2:]]
        reply_table = Array(reply_bytes)
        rep_we = Signal()
        rep_addr = Signal(range(HEADER_BYTES + STATUS_BYTES))
        rep_data = Signal(8)

        # ------------------------------------------------------------------ vector reader/writer
        end = Signal(range(depth + 1))  # one past the last payload byte
        end_m1 = Signal(range(depth + 1))  # the last payload byte
        raddr = Signal(range(depth + 1))
        rsh = Signal(8 * nb)
        rbyte = Signal(range(max(nb, 2)))
        rword = Signal(range(max(n, 2)))
        vec_go = Signal()
        vec_done = Signal()
        waddr = Signal(range(depth + 1))
        wsh = Signal(8 * nb)
        wbyte = Signal(range(max(nb, 2)))

        s_valid = Signal()
        s_first = Signal()
        s_last = Signal()
        m.d.comb += [
            unit.sink.valid.eq(s_valid),
            unit.sink.payload.data.eq(rsh[:w]),
            unit.sink.payload.first.eq(s_first),
            unit.sink.payload.last.eq(s_last),
        ]
        with m.FSM(name="reader"):
            with m.State("IDLE"):
                with m.If(vec_go):
                    m.d.sync += [raddr.eq(HEADER_BYTES), rbyte.eq(0), rword.eq(0)]
                    m.next = "READ"
            with m.State("READ"):  # the buffer reads raddr
                m.next = "USE"
            with m.State("USE"):
                m.d.sync += [rsh.eq(Cat(rsh[8:], rp.data)), raddr.eq(raddr + 1),
                             rbyte.eq(rbyte + 1)]
                with m.If(rbyte == nb - 1):
                    m.d.sync += [rbyte.eq(0), s_valid.eq(1), s_first.eq(rword == 0),
                                 s_last.eq(rword == n - 1)]
                    m.next = "PUSH"
                with m.Else():
                    m.next = "READ"
            with m.State("PUSH"):  # the unit's sink is driven from registers only
                with m.If(unit.sink.ready):
                    m.d.sync += s_valid.eq(0)
                    m.d.sync += rword.eq(rword + 1)
                    with m.If(rword == n - 1):
                        m.d.sync += rword.eq(0)
                    with m.If(raddr == end):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "READ"

        m.d.sync += [vec_done.eq(0), vec_go.eq(0)]
        w_ready = Signal()  # the unit's source.ready, from a register
        m.d.comb += unit.source.ready.eq(w_ready)
        with m.FSM(name="writer"):
            with m.State("IDLE"):
                with m.If(vec_go):
                    m.d.sync += [waddr.eq(HEADER_BYTES), wbyte.eq(0), w_ready.eq(1)]
                    m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(unit.source.valid):  # w_ready is high: a transfer
                    m.d.sync += [wsh.eq(unit.source.payload.data), wbyte.eq(0), w_ready.eq(0)]
                    m.next = "WRITE"
            with m.State("WRITE"):
                m.d.comb += [wp.en.eq(1), wp.addr.eq(waddr), wp.data.eq(wsh[:8])]
                m.d.sync += [wsh.eq(wsh >> 8), waddr.eq(waddr + 1), wbyte.eq(wbyte + 1)]
                with m.If(wbyte == nb - 1):
                    with m.If(waddr == end_m1):  # (end - 1, registered: no adder here)
                        m.d.sync += vec_done.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += w_ready.eq(1)
                        m.next = "WAIT"

        # ------------------------------------------------------------------ config writer state
        # The SPEC §3.2 words arrive as key/IV words 0-4, then per class i: alpha, beta, a, b,
        # C[i][0..N-1]. (cfg_key, cfg_kw, cfg_cls, cfg_fld) track the word and give its address
        # in the unit's configuration map (rtl/param_store.py).
        cfg_sh = Signal(32)
        cfg_we = Signal()
        cfg_start = Signal()
        cfg_lock = Signal()
        cfg_key = Signal()
        cfg_kw = Signal(range(5))
        cfg_cls = Signal(class_bits(n))
        cfg_fld = Signal(range(n + 4))
        cb = class_bits(n)
        cfg_addr = Signal(config_addr_width(n))
        with m.If(cfg_key):
            m.d.comb += cfg_addr.eq((SPACE_KEY << 2 * cb) | cfg_kw)
        with m.Elif(cfg_fld < 4):
            m.d.comb += cfg_addr.eq(Cat(cfg_fld[:cb], cfg_cls[:cb], Const(SPACE_WINDOW, 2)))
        with m.Else():
            m.d.comb += cfg_addr.eq(Cat((cfg_fld - 4)[:cb], cfg_cls[:cb], Const(SPACE_C, 2)))
        m.d.sync += [cfg_we.eq(0), cfg_start.eq(0), cfg_lock.eq(0)]
        m.d.comb += [
            unit.config.we.eq(cfg_we),
            unit.config.addr.eq(cfg_addr),
            unit.config.data.eq(cfg_sh),
            unit.config.start.eq(cfg_start),
            unit.config.lock.eq(cfg_lock),
        ]
        cfg_first = HEADER_BYTES + PARAMS_HEADER_BYTES
        cfg_end = cfg_first + 4 * config_words(n)
        assert cfg_end == HEADER_BYTES + config_bytes(n) - 4
        cbyte = Signal(2)

        # ------------------------------------------------------------------ dispatcher
        rem = Signal(16)
        rd_from_enc = Signal()
        m.d.comb += rp.addr.eq(raddr)
        with m.If(rd_from_enc):
            m.d.comb += rp.addr.eq(enc.rd_addr)

        # One increment per counter: the FSM branches only raise these strobes.
        count_ok = Signal()
        count_nack = Signal()
        nack_code = Signal(4)
        with m.If(count_ok):
            m.d.sync += frames_ok.eq(frames_ok + 1)
        with m.If(count_nack):
            m.d.sync += [
                frames_nacked.eq(frames_nacked + 1), reason.eq(nack_code),
                last_nack.eq(nack_code), nacks_seen.eq(nacks_seen | (Const(1, 16) << nack_code)),
            ]

        def nack(r) -> None:
            m.d.comb += [count_nack.eq(1), nack_code.eq(r)]
            m.d.sync += [
                rtype.eq(FrameType.NACK), rlen.eq(2), rlast.eq(HEADER_BYTES + 1),
                is_nack.eq(1), is_status.eq(0), k.eq(0),
            ]
            m.next = "REPLY"

        def ack() -> None:
            m.d.comb += count_ok.eq(1)
            m.d.sync += [
                rtype.eq(FrameType.ACK), rlen.eq(1), rlast.eq(HEADER_BYTES), is_nack.eq(0),
                is_status.eq(0), k.eq(0),
            ]
            m.next = "REPLY"

        # The checks of PROTOCOL §4, registered when a frame completes, so that EVAL decides
        # from single flip-flops (the comparisons would otherwise sit in front of every
        # register EVAL enables).
        length = dec.length
        checks = {
            "framing": dec.framing,
            "overflow": dec.overflow,
            "short": length < 6,
            "crc": ~dec.crc_ok,
            "length": dec.len_field + 6 != length,
            "is_cfg": dec.ftype == FrameType.CONFIGURE,
            "is_vec": dec.ftype == FrameType.VECTORS,
            "is_lock": dec.ftype == FrameType.LOCK,
            "is_status": dec.ftype == FrameType.STATUS,
            "cfg_bad": (dec.len_field != config_bytes(n)) | ~dec.cfg_header_ok,
            "vec_bad": (dec.len_field == 0) | (dec.len_field > self.max_vectors * vbytes),
            "nonempty": dec.len_field != 0,
        }
        f = {name: Signal(name=f"chk_{name}") for name in checks}
        act = Signal(4)  # a NackReason, or one of the ACT_* below
        rem_zero = Signal()
        rem_short = Signal()
        m.d.sync += [rem_zero.eq(rem == 0), rem_short.eq(rem < vbytes)]
        with m.FSM(name="dispatch"):
            with m.State("IDLE"):
                m.d.comb += [dec.accept.eq(1), wp.en.eq(dec.wr_en), wp.addr.eq(dec.wr_addr),
                             wp.data.eq(dec.wr_data)]
                with m.If(dec.done):
                    m.d.sync += [f[name].eq(value) for name, value in checks.items()]
                    m.d.sync += [rem.eq(dec.len_field), end.eq(HEADER_BYTES + dec.len_field),
                                 end_m1.eq(HEADER_BYTES - 1 + dec.len_field)]
                    m.next = "EVAL"
            with m.State("EVAL"):  # the first check that fails, or what to do: into act
                with m.If(f["framing"]):
                    m.d.sync += act.eq(NackReason.FRAMING)
                with m.Elif(f["overflow"]):
                    m.d.sync += act.eq(NackReason.OVERFLOW)
                with m.Elif(f["short"]):
                    m.d.sync += act.eq(NackReason.SHORT)
                with m.Elif(f["crc"]):
                    m.d.sync += act.eq(NackReason.CRC)
                with m.Elif(f["length"]):
                    m.d.sync += act.eq(NackReason.LENGTH)
                with m.Elif(f["is_cfg"]):
                    with m.If(f["cfg_bad"]):
                        m.d.sync += act.eq(NackReason.CLASSES)
                    with m.Elif(unit.config.locked):
                        m.d.sync += act.eq(NackReason.LOCKED)
                    with m.Else():
                        m.d.sync += act.eq(ACT_CONFIGURE)
                with m.Elif(f["is_vec"]):
                    with m.If(f["vec_bad"]):
                        m.d.sync += act.eq(NackReason.CLASSES)
                    with m.Else():
                        m.d.sync += act.eq(ACT_VECTORS)
                with m.Elif(f["is_lock"]):
                    with m.If(f["nonempty"]):
                        m.d.sync += act.eq(NackReason.CLASSES)
                    with m.Elif(~configured):
                        m.d.sync += act.eq(NackReason.NOT_CONFIGURED)
                    with m.Else():
                        m.d.sync += act.eq(ACT_LOCK)
                with m.Elif(f["is_status"]):
                    with m.If(f["nonempty"]):
                        m.d.sync += act.eq(NackReason.CLASSES)
                    with m.Else():
                        m.d.sync += act.eq(ACT_STATUS)
                with m.Else():
                    m.d.sync += act.eq(NackReason.TYPE)
                m.next = "ACT"
            with m.State("ACT"):
                with m.If(act == ACT_CONFIGURE):
                    m.d.sync += [raddr.eq(cfg_first), cbyte.eq(0), configured.eq(0),
                                 cfg_key.eq(1), cfg_kw.eq(0), cfg_cls.eq(0), cfg_fld.eq(0)]
                    m.next = "CFG_READ"
                with m.Elif(act == ACT_VECTORS):
                    m.next = "VCHECK"
                with m.Elif(act == ACT_LOCK):
                    m.d.sync += cfg_lock.eq(1)
                    ack()
                with m.Elif(act == ACT_STATUS):
                    m.d.sync += [
                        rtype.eq(FrameType.STATUS_REPLY), rlen.eq(STATUS_BYTES),
                        rlast.eq(HEADER_BYTES + STATUS_BYTES - 1), is_status.eq(1), k.eq(0),
                    ]
                    m.d.comb += count_ok.eq(1)
                    m.next = "REPLY"
                with m.Else():
                    with m.If(act == NackReason.LOCKED):
                        m.d.sync += cfg_refused.eq(1)
                    nack(act)
            with m.State("VCHECK"):  # len_field a whole number of vectors?
                # (rem_zero, rem_short: registered from rem, which has not changed since the
                # cycle before: ACT or VSTEP comes first)
                with m.If(rem_zero):
                    with m.If(configured):
                        m.d.sync += vec_go.eq(1)  # (registered: starts reader and writer)
                        m.next = "VEC"
                    with m.Else():
                        nack(NackReason.NOT_CONFIGURED)
                with m.Elif(rem_short):
                    nack(NackReason.CLASSES)
                with m.Else():
                    m.d.sync += rem.eq(rem - vbytes)
                    m.next = "VSTEP"
            with m.State("VSTEP"):
                m.next = "VCHECK"
            with m.State("VEC"):  # the reader and the writer (above) run
                with m.If(vec_done):
                    m.d.sync += [rtype.eq(FrameType.VECTORS_REPLY), rlen.eq(dec.len_field),
                                 rlast.eq(0), is_status.eq(0), is_nack.eq(0), k.eq(0)]
                    m.d.comb += count_ok.eq(1)
                    m.next = "REPLY"
            with m.State("CFG_READ"):  # the buffer reads raddr
                m.next = "CFG_USE"
            with m.State("CFG_USE"):
                m.d.sync += [cfg_sh.eq(Cat(cfg_sh[8:], rp.data)), raddr.eq(raddr + 1),
                             cbyte.eq(cbyte + 1)]
                with m.If(cbyte == 3):
                    m.d.sync += cfg_we.eq(1)
                with m.If(raddr == cfg_end - 1):
                    m.next = "CFG_START"
                with m.Else():
                    m.next = "CFG_NEXT"
            with m.State("CFG_NEXT"):  # the address advances after the write it addressed
                with m.If(cfg_we):
                    with m.If(cfg_key):
                        m.d.sync += cfg_kw.eq(cfg_kw + 1)
                        with m.If(cfg_kw == 4):
                            m.d.sync += cfg_key.eq(0)
                    with m.Elif(cfg_fld == n + 3):
                        m.d.sync += [cfg_fld.eq(0), cfg_cls.eq(cfg_cls + 1)]
                    with m.Else():
                        m.d.sync += cfg_fld.eq(cfg_fld + 1)
                m.next = "CFG_READ"
            with m.State("CFG_START"):  # the last word is being written this cycle
                m.next = "CFG_GO"
            with m.State("CFG_GO"):
                m.d.sync += [cfg_start.eq(1), configured.eq(1)]
                ack()
            with m.State("REPLY"):  # write bytes 0..rlast of the reply into the buffer
                # (through a register: the byte table is a wide multiplexer)
                m.d.comb += [wp.en.eq(rep_we), wp.addr.eq(rep_addr), wp.data.eq(rep_data)]
                m.d.sync += [rep_we.eq(1), rep_addr.eq(k), rep_data.eq(reply_table[k]),
                             k.eq(k + 1)]
                with m.If(k == rlast):
                    m.next = "REPLY_LAST"
            with m.State("REPLY_LAST"):
                m.d.comb += [wp.en.eq(rep_we), wp.addr.eq(rep_addr), wp.data.eq(rep_data)]
                m.d.sync += rep_we.eq(0)
                m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += [enc.start.eq(1), enc.length.eq(HEADER_BYTES + rlen)]
                m.next = "SENDING"
            with m.State("SENDING"):
                m.d.comb += [rd_from_enc.eq(1), wp.en.eq(enc.wr_en), wp.addr.eq(enc.wr_addr),
                             wp.data.eq(enc.wr_data)]
                with m.If(~enc.busy):
                    m.next = "IDLE"
        return m
