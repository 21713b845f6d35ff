"""COBS frame decoder and encoder with CRC-16, working on a byte buffer (docs/PROTOCOL.md §2).

Both blocks talk to a frame buffer through a :class:`~dynamarks.rtl.frame_slots.BufferPort`
(``buf``: a read port, data two cycles after the address — the block RAM and a register — and
a write port), so the parent decides which buffer each one works on
(:class:`~dynamarks.rtl.frame_slots.FrameSlots`: one slot receives while others are executed
and sent).

:class:`FrameDecoder` — bytes from the UART receiver → decoded frame in the buffer.
  ``sink`` (In stream of bytes, always ready). While ``accept`` is high it COBS-decodes each byte
  (one decoded byte at most per received byte), writes the decoded bytes to the buffer from
  address 0 (``buf.w*``), runs the CRC over them and captures the header (``ftype``, ``seq``,
  ``len_field``; 0 where the frame is too short to hold them) and whether payload bytes 0–7
  equal ``cfg_header`` (``cfg_header_ok``). On the
  0x00 delimiter, if at least one byte arrived, it pulses ``done`` for one cycle with ``length``
  (decoded bytes, saturating at depth + 1), ``crc_ok`` (CRC of all decoded bytes is 0),
  ``framing`` (a COBS block cut short by the delimiter, or ``rx_error`` during the frame) and
  ``overflow`` (more than ``depth`` decoded bytes; the excess is not written). Empty frames (two
  delimiters in a row) are ignored. The results hold until the next frame starts.
  While ``accept`` is low (the parent is busy), every received byte is dropped and pulses
  ``dropped``; if a non-zero byte was dropped, the decoder then also drops everything up to and
  including the next delimiter, so that it never decodes the tail of a frame (resynchronisation).
  Latency: ``done`` three cycles after the delimiter byte is received (two pipeline registers
  in front of the buffer write, so that nothing wide sits behind the input).

:class:`FrameEncoder` — buffer → COBS-encoded reply on a byte stream.
  On ``start`` with ``length`` = L (bytes 0..L-1 in the buffer: header and payload), it computes
  the CRC over them (3 cycles a byte), writes it big-endian at L and L+1, then sends the COBS
  encoding of the L+2 bytes (exactly as :func:`dynamarks.host.protocol.cobs_encode`) and a 0x00
  delimiter on ``source``. ``busy`` is high from the cycle of ``start`` until the delimiter has
  been taken. Each byte is read twice (once to find the next zero, once to send it), so it
  needs about 7·(L+2) cycles plus the sink's back-pressure; the UART's 10·divisor cycles a byte
  dominate.

Invariants: the decoder never writes at or above ``depth``; the encoder never emits 0x00 except
as the final delimiter, and its output decodes to exactly the buffer's L bytes and their CRC.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from dynamarks.rtl.crc16 import crc16_next
from dynamarks.rtl.frame_slots import BufferPort
from dynamarks.wire import CRC16_INIT, params_header


def decoder_status_members(depth: int) -> dict:
    """The per-frame report a ``FrameDecoder`` gives (and benches that wrap it re-export)."""
    return {
        "done": Out(1),
        "dropped": Out(1),
        "length": Out(range(depth + 2)),
        "crc_ok": Out(1),
        "framing": Out(1),
        "overflow": Out(1),
        "ftype": Out(8),
        "seq": Out(8),
        "len_field": Out(16),
        "cfg_header_ok": Out(1),
    }


class FrameDecoder(wiring.Component):
    """COBS decoder + CRC check into a frame buffer (see the module docstring).

    ``cfg_header``: the 8 bytes a CONFIGURE payload must start with on this device.
    """

    def __init__(self, depth: int, cfg_header: bytes) -> None:
        if len(cfg_header) != 8:
            raise ValueError("cfg_header must be 8 bytes")
        self.depth = depth
        self.cfg_header = bytes(cfg_header)
        super().__init__({
            "sink": In(stream.Signature(8)),
            "accept": In(1),
            "rx_error": In(1),
            "buf": Out(BufferPort(depth)),
            **decoder_status_members(depth),
        })

    def elaborate(self, platform) -> Module:
        # Three stages, each fed by registers only (a byte arrives at most every cycle, and the
        # stages keep its order): A registers the input; B runs the COBS state machine and
        # turns each byte into at most one event (emit a decoded byte, or close the frame);
        # C writes the buffer, runs the CRC, captures the header and reports the frame.
        m = Module()
        m.d.comb += self.sink.ready.eq(1)
        m.d.sync += [self.done.eq(0), self.dropped.eq(0)]

        # ---- A: input register
        a_valid = Signal()
        a_byte = Signal(8)
        a_err = Signal()
        m.d.sync += [a_valid.eq(self.sink.valid), a_byte.eq(self.sink.payload),
                     a_err.eq(self.rx_error)]

        # ---- B: COBS decoding and resynchronisation
        remaining = Signal(8)  # data bytes still owed by the current COBS block
        zero_pending = Signal()  # a 0x00 goes out before the next block's data
        got_any = Signal()
        bad = Signal()  # framing error seen in this frame
        skip = Signal()  # resynchronising: drop up to the next delimiter
        b_emit = Signal()
        b_byte = Signal(8)
        b_new = Signal()  # first byte of a frame: clear the header fields
        b_close = Signal()  # a delimiter after at least one byte
        b_framing = Signal()
        m.d.sync += [b_emit.eq(0), b_new.eq(0), b_close.eq(0)]

        with m.If(a_err & self.accept & ~skip):
            m.d.sync += [bad.eq(1), got_any.eq(1)]
        with m.If(a_valid):
            with m.If(~self.accept | skip):
                m.d.sync += [self.dropped.eq(1), skip.eq(a_byte != 0)]
            with m.Elif(a_byte == 0):  # delimiter: close the frame
                m.d.sync += [b_close.eq(got_any), b_framing.eq(bad | (remaining != 0)),
                             remaining.eq(0), zero_pending.eq(0), got_any.eq(0), bad.eq(0)]
            with m.Else():
                m.d.sync += [got_any.eq(1), b_new.eq(~got_any)]
                with m.If(remaining == 0):  # a code byte
                    m.d.sync += [b_emit.eq(zero_pending), b_byte.eq(0),
                                 remaining.eq(a_byte - 1), zero_pending.eq(a_byte != 0xFF)]
                with m.Else():
                    m.d.sync += [b_emit.eq(1), b_byte.eq(a_byte), remaining.eq(remaining - 1)]

        # ---- C: buffer, CRC, header, result
        count = Signal(range(self.depth + 2))  # decoded bytes so far, saturating at depth + 1
        crc = Signal(16, init=CRC16_INIT)
        hdr_ok = Signal(init=1)
        expected = Array(Const(b, 8) for b in self.cfg_header)
        # The parameter-set header check: ``in_hdr`` (a register: the byte at ``count`` is one
        # of payload bytes 0-7) and the expected byte ``(count - 4) mod 8`` = ``count[:3]`` with
        # bit 2 flipped; a mismatch is registered and folded into ``hdr_ok`` a cycle later.
        in_hdr = Signal()
        hdr_bad = Signal()
        hsel = Signal(3)
        m.d.comb += hsel.eq(count[:3] ^ 0b100)
        m.d.sync += hdr_bad.eq(b_emit & in_hdr & (b_byte != expected[hsel]))
        with m.If(hdr_bad):
            m.d.sync += hdr_ok.eq(0)
        with m.If(b_new):  # header fields the frame does not reach read 0
            m.d.sync += [self.ftype.eq(0), self.seq.eq(0), self.len_field.eq(0)]
        with m.If(b_emit):
            with m.If(count < self.depth):
                m.d.comb += [self.buf.we.eq(1), self.buf.waddr.eq(count),
                             self.buf.wdata.eq(b_byte)]
            with m.If(count <= self.depth):
                m.d.sync += count.eq(count + 1)
            m.d.sync += crc.eq(crc16_next(crc, b_byte))
            with m.Switch(count):
                with m.Case(0):
                    m.d.sync += self.ftype.eq(b_byte)
                with m.Case(1):
                    m.d.sync += self.seq.eq(b_byte)
                with m.Case(2):
                    m.d.sync += self.len_field[:8].eq(b_byte)
                with m.Case(3):
                    m.d.sync += self.len_field[8:].eq(b_byte)
            m.d.sync += in_hdr.eq((count >= 3) & (count < 11))
        with m.If(b_close):
            m.d.sync += [
                self.done.eq(1),
                self.length.eq(count),
                self.crc_ok.eq(crc == 0),
                self.framing.eq(b_framing),
                self.overflow.eq(count > self.depth),
                self.cfg_header_ok.eq(hdr_ok & ~hdr_bad & (count >= 12)),
            ]
        with m.If(b_close):
            m.d.sync += [count.eq(0), crc.eq(CRC16_INIT), hdr_ok.eq(1), in_hdr.eq(0)]
        return m


class FrameEncoder(wiring.Component):
    """CRC + COBS encoder from a frame buffer (see the module docstring)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        super().__init__({
            "start": In(1),
            "length": In(range(depth)),
            "busy": Out(1),
            "buf": Out(BufferPort(depth)),
            "source": Out(stream.Signature(8)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        total = Signal(range(self.depth + 1))  # L + 2: bytes to encode
        last = Signal(range(self.depth))  # L - 1: the last byte the CRC covers
        addr = Signal(range(self.depth + 1))  # the read address (registered)
        blk = Signal(range(self.depth + 1))  # first byte of the current COBS block
        run = Signal(range(256))  # non-zero bytes found in the block (≤ 254)
        sent = Signal(range(256))  # of them, bytes sent so far
        crc = Signal(16, init=CRC16_INIT)
        m.d.comb += self.buf.raddr.eq(addr)
        at_end = Signal()  # addr == total, one cycle late (the states allow for it)
        full = Signal()  # run == 254, one cycle late
        stop = Signal()  # the scanned byte ends the block (registered in SCAN_LOOK)
        at_last = Signal()  # addr == last, one cycle late (CRC_ADD comes two after a change)
        m.d.sync += [at_end.eq(addr == total), full.eq(run == 254), at_last.eq(addr == last)]

        out = self.source
        with m.If(out.ready):
            m.d.sync += out.valid.eq(0)

        with m.FSM() as fsm:
            with m.State("IDLE"):
                m.d.comb += self.busy.eq(self.start)
                with m.If(self.start):
                    m.d.sync += [addr.eq(0), crc.eq(CRC16_INIT), total.eq(self.length + 2),
                                 last.eq(self.length - 1)]
                    m.next = "CRC"
            with m.State("CRC"):  # the buffer reads addr; CRC_ADD sees buf[addr]
                m.d.comb += self.busy.eq(1)
                m.next = "CRC_WAIT"
            with m.State("CRC_WAIT"):
                m.d.comb += self.busy.eq(1)
                m.next = "CRC_ADD"
            with m.State("CRC_ADD"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [crc.eq(crc16_next(crc, self.buf.rdata)), addr.eq(addr + 1)]
                with m.If(at_last):
                    m.next = "CRC_HI"
                with m.Else():
                    m.next = "CRC"
            with m.State("CRC_HI"):
                m.d.comb += [self.busy.eq(1), self.buf.we.eq(1), self.buf.waddr.eq(addr),
                             self.buf.wdata.eq(crc[8:])]
                m.d.sync += addr.eq(addr + 1)
                m.next = "CRC_LO"
            with m.State("CRC_LO"):
                m.d.comb += [self.busy.eq(1), self.buf.we.eq(1), self.buf.waddr.eq(addr),
                             self.buf.wdata.eq(crc[:8])]
                m.d.sync += [blk.eq(0), addr.eq(0), run.eq(0)]
                m.next = "SCAN"
            with m.State("SCAN"):  # find the block: up to 254 non-zero bytes
                # addr == blk + run; the buffer reads addr, at_end and full settle
                m.d.comb += self.busy.eq(1)
                m.next = "SCAN_WAIT"
            with m.State("SCAN_WAIT"):
                m.d.comb += self.busy.eq(1)
                m.next = "SCAN_LOOK"
            with m.State("SCAN_LOOK"):  # buf[addr] arrives: whether the block ends, registered
                m.d.comb += self.busy.eq(1)
                m.d.sync += stop.eq(at_end | full | (self.buf.rdata == 0))
                m.next = "SCAN_CHECK"
            with m.State("SCAN_CHECK"):
                m.d.comb += self.busy.eq(1)
                with m.If(stop):
                    m.d.sync += [out.payload.eq(run + 1), out.valid.eq(1), sent.eq(0),
                                 addr.eq(blk)]
                    m.next = "CODE"
                with m.Else():
                    m.d.sync += [run.eq(run + 1), addr.eq(addr + 1)]
                    m.next = "SCAN"
            with m.State("CODE"):  # the code byte is offered; wait for it to go
                m.d.comb += self.busy.eq(1)
                with m.If(~out.valid | out.ready):
                    with m.If(sent == run):
                        m.next = "NEXT"
                    with m.Else():
                        m.next = "DATA_WAIT"
            with m.State("DATA_WAIT"):  # buf[addr] arrives (addr changed two cycles ago)
                m.d.comb += self.busy.eq(1)
                m.next = "DATA"
            with m.State("DATA"):  # rd_data = buf[addr]: offer it
                m.d.comb += self.busy.eq(1)
                with m.If(~out.valid | out.ready):
                    m.d.sync += [out.payload.eq(self.buf.rdata), out.valid.eq(1),
                                 addr.eq(addr + 1), sent.eq(sent + 1)]
                    m.next = "CODE"
            with m.State("NEXT"):
                m.d.comb += self.busy.eq(1)
                # addr == blk + run here (every byte of the block was sent), and it has not
                # changed since the cycle before: at_end is up to date
                with m.If(at_end):
                    m.d.sync += [out.payload.eq(0), out.valid.eq(1)]
                    m.next = "DELIM"
                with m.Elif(full):  # a full block: the next one starts right after it
                    m.d.sync += [blk.eq(addr), run.eq(0)]
                    m.next = "SCAN"
                with m.Else():  # skip the zero that ended the block
                    m.d.sync += [blk.eq(addr + 1), addr.eq(addr + 1), run.eq(0)]
                    m.next = "SCAN"
            with m.State("DELIM"):
                m.d.comb += self.busy.eq(1)
                with m.If(~out.valid | out.ready):
                    m.next = "IDLE"
        # One-hot, recoded by yosys (the state is IDLE after reset): the address register's
        # enable depends on most of the thirteen states, which a binary state register would
        # put several LUT levels behind.
        fsm.state.attrs["fsm_encoding"] = "one-hot"
        return m


def cfg_header_bytes(classes: int, width: int) -> bytes:
    """The first 8 bytes of a CONFIGURE payload for this device (SPEC §3.2 header)."""
    return params_header(classes, width)

