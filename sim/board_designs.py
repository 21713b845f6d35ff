"""Designs under test for the board benches (sim/tb_uart.py, tb_framing.py, tb_top.py).

* :class:`UartPair` — a :class:`~dynamarks.rtl.uart.UartRx` and a
  :class:`~dynamarks.rtl.uart.UartTx` side by side, every port brought out (Verilog ports
  ``rx``, ``rx_source__{valid,ready,payload}``, ``rx_error``, ``rx_overrun``,
  ``tx_sink__{valid,ready,payload}``, ``tx``).
* :class:`FramingLoopback` — :class:`~dynamarks.rtl.framing.FrameDecoder` into a frame buffer;
  a frame that decodes cleanly (no framing error, no overflow, at least 6 bytes, CRC 0) is sent
  back by :class:`~dynamarks.rtl.framing.FrameEncoder` with its CRC recomputed, so a correct
  pair echoes every good frame byte for byte. Ports: ``sink__*`` (bytes in), ``source__*``
  (bytes out), ``accept``, and the decoder's results ``done``, ``length``, ``crc_ok``,
  ``framing``, ``overflow``, ``ftype``, ``seq``, ``len_field``, ``cfg_header_ok``,
  ``dropped``.
* :func:`top_verilog` — the whole ``BoardTop`` (module ``board``), as the simulated board runs it.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from dynamarks.rtl.framing import (
    FrameDecoder,
    FrameEncoder,
    cfg_header_bytes,
    decoder_status_members,
)
from dynamarks.rtl.uart import UartRx, UartTx


class UartPair(wiring.Component):
    def __init__(self, divisor: int) -> None:
        self.divisor = divisor
        super().__init__(
            {
                "rx": In(1, init=1),
                "rx_source": Out(stream.Signature(8)),
                "rx_error": Out(1),
                "rx_overrun": Out(1),
                "tx_sink": In(stream.Signature(8)),
                "tx": Out(1, init=1),
            }
        )

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.urx = urx = UartRx(self.divisor)
        m.submodules.utx = utx = UartTx(self.divisor)
        wiring.connect(m, urx.source, wiring.flipped(self.rx_source))
        wiring.connect(m, wiring.flipped(self.tx_sink), utx.sink)
        m.d.comb += [
            urx.rx.eq(self.rx),
            self.tx.eq(utx.tx),
            self.rx_error.eq(urx.error),
            self.rx_overrun.eq(urx.overrun),
        ]
        return m


class FramingLoopback(wiring.Component):
    def __init__(self, depth: int = 1024, classes: int = 10, width: int = 16) -> None:
        self.depth = depth
        self.cfg_header = cfg_header_bytes(classes, width)
        super().__init__(
            {
                "sink": In(stream.Signature(8)),
                "source": Out(stream.Signature(8)),
                "accept": In(1, init=1),
                **decoder_status_members(depth),
            }
        )

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.dec = dec = FrameDecoder(self.depth, self.cfg_header)
        m.submodules.enc = enc = FrameEncoder(self.depth)
        m.submodules.buf = buf = Memory(shape=8, depth=self.depth, init=[])
        rp = buf.read_port()
        wp = buf.write_port()
        wiring.connect(m, wiring.flipped(self.sink), dec.sink)
        wiring.connect(m, enc.source, wiring.flipped(self.source))
        for name in decoder_status_members(self.depth):
            m.d.comb += getattr(self, name).eq(getattr(dec, name))
        # the BufferPort's read latency: the block RAM, then a register
        m.d.comb += rp.addr.eq(enc.buf.raddr)
        m.d.sync += enc.buf.rdata.eq(rp.data)

        good = ~dec.framing & ~dec.overflow & (dec.length >= 6) & dec.crc_ok
        with m.FSM():
            with m.State("RECEIVE"):
                m.d.comb += [
                    dec.accept.eq(self.accept),
                    wp.en.eq(dec.buf.we),
                    wp.addr.eq(dec.buf.waddr),
                    wp.data.eq(dec.buf.wdata),
                ]
                with m.If(dec.done):
                    m.next = "CHECK"
            with m.State("CHECK"):
                with m.If(good):
                    m.d.comb += [enc.start.eq(1), enc.length.eq(dec.length - 2)]
                    m.next = "SEND"
                with m.Else():
                    m.next = "RECEIVE"
            with m.State("SEND"):
                m.d.comb += [
                    wp.en.eq(enc.buf.we),
                    wp.addr.eq(enc.buf.waddr),
                    wp.data.eq(enc.buf.wdata),
                ]
                with m.If(~enc.busy):
                    m.next = "RECEIVE"
        return m


def uart_verilog(divisor: int) -> str:
    from amaranth.back import verilog

    return verilog.convert(UartPair(divisor), name="uart_pair")


def framing_verilog(depth: int) -> str:
    from amaranth.back import verilog

    return verilog.convert(FramingLoopback(depth), name="framing_loopback")


def top_verilog(classes: int, width: int, divisor: int) -> str:
    from dynamarks.sim.board_sim import board_verilog

    return board_verilog(classes, width, divisor=divisor)
