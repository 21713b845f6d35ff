"""cocotb bench of the UART receiver and transmitter (rtl/uart.py), at the pins.

Design: :class:`dynamarks.sim.board_designs.UartPair` with a divisor of 16 (``DMK_DIVISOR``).
Oracle: the 8N1 waveform itself (start bit, 8 data bits LSB first, stop bit, each exactly
``divisor`` cycles) and the bytes the bench sent.

* ``test_tx_waveform`` — random bytes, back to back and with gaps, under random ``valid``: the
  ``tx`` pin is recorded every cycle and must equal the ideal waveform cycle for cycle;
* ``test_rx_bytes_and_clock_error`` — random bytes from a sender whose bit time is off by
  −3 %, 0 and +3 %: every byte received, in order, no error, no overrun;
* ``test_rx_glitch_rejected`` — low pulses shorter than half a bit are not start bits;
* ``test_rx_framing_error_and_break`` — a 0 stop bit drops the byte and pulses ``error``; a
  long break counts once; the receiver works again after the line goes high;
* ``test_rx_overrun`` — a byte that completes while the previous one was not taken replaces
  it and pulses ``overrun``.
"""

from __future__ import annotations

import functools
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge

from dynamarks.sim.board_designs import uart_verilog
from dynamarks.sim.board_uart_tb import UartLine
from dynamarks.sim.runner import Bench

DIVISOR = 16

BENCHES = [
    Bench(
        name="board_uart",
        verilog=functools.partial(uart_verilog, DIVISOR),
        test_module="dynamarks.sim.tb_uart",
        simulators=("icarus",),
        env={"DMK_DIVISOR": str(DIVISOR)},
    ),
]


async def _setup(dut):
    d = int(os.environ.get("DMK_DIVISOR", DIVISOR))
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.rx.value = 1
    dut.tx_sink__valid.value = 0
    dut.rx_source__ready.value = 1
    await ClockCycles(dut.clk, 4)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    return d


class RxCollector:
    """Records every byte the receiver hands over, and its error/overrun pulses."""

    def __init__(self, dut) -> None:
        self.dut = dut
        self.bytes: list[int] = []
        self.errors = 0
        self.overruns = 0
        cocotb.start_soon(self._run())

    async def _run(self) -> None:
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            if int(dut.rx_source__valid.value) and int(dut.rx_source__ready.value):
                self.bytes.append(int(dut.rx_source__payload.value))
            self.errors += int(dut.rx_error.value)
            self.overruns += int(dut.rx_overrun.value)


@cocotb.test()
async def test_tx_waveform(dut):
    d = await _setup(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    data = [rng.randrange(256) for _ in range(40)]
    trace: list[int] = []
    accepted: list[int] = []  # trace index of the first cycle after each byte was taken

    async def record() -> None:
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            trace.append(int(dut.tx.value))

    cocotb.start_soon(record())
    for k, byte in enumerate(data):
        if k % 5 == 4:  # sometimes a gap before offering the next byte
            await ClockCycles(dut.clk, rng.randrange(1, 3 * d), rising=False)
        await FallingEdge(dut.clk)
        dut.tx_sink__payload.value = byte
        dut.tx_sink__valid.value = 1
        while True:
            await ReadOnly()
            taken = int(dut.tx_sink__ready.value)
            if taken:  # the transfer is at the coming rising edge: trace[len(trace)] onwards
                accepted.append(len(trace))
            await FallingEdge(dut.clk)
            if taken:
                break
        dut.tx_sink__valid.value = 0
    await ClockCycles(dut.clk, 12 * d)
    # Ideal waveform: from the cycle after each byte is taken, 10 bits of d cycles each.
    want = [1] * len(trace)
    for byte, at in zip(data, accepted, strict=True):
        bits = [0] + [(byte >> i) & 1 for i in range(8)] + [1]
        for b, bit in enumerate(bits):
            for c in range(d):
                idx = at + b * d + c
                if idx < len(want):
                    want[idx] = bit
    for prev, nxt in zip(accepted, accepted[1:], strict=False):
        assert nxt - prev >= 10 * d, "a byte was taken before the previous one was out"
    assert trace == want, "tx waveform differs from ideal 8N1"
    back_to_back = sum(1 for p, n in zip(accepted, accepted[1:], strict=False) if n - p == 10 * d)
    assert back_to_back > 10  # bytes offered early go out with no idle time between them


@cocotb.test()
async def test_rx_bytes_and_clock_error(dut):
    d = await _setup(dut)
    rx = RxCollector(dut)
    line = UartLine(dut.clk, dut.rx, dut.tx, d)
    rng = random.Random(cocotb.RANDOM_SEED + 1)
    sent: list[int] = []
    for error in (-0.03, 0.0, 0.03):
        data = bytes(rng.randrange(256) for _ in range(60))
        await line.send(data, bit_cycles=d * (1 + error))
        await line.idle(3 * d)
        sent += data
    await line.idle(2 * d)
    assert rx.bytes == sent
    assert rx.errors == 0 and rx.overruns == 0


@cocotb.test()
async def test_rx_glitch_rejected(dut):
    d = await _setup(dut)
    rx = RxCollector(dut)
    line = UartLine(dut.clk, dut.rx, dut.tx, d)
    for width in (1, 2, d // 2 - 2):
        await line.glitch(width)
        await line.idle(12 * d)
    await line.send(b"\x5a")
    await line.idle(2 * d)
    assert rx.bytes == [0x5A] and rx.errors == 0


@cocotb.test()
async def test_rx_framing_error_and_break(dut):
    d = await _setup(dut)
    rx = RxCollector(dut)
    line = UartLine(dut.clk, dut.rx, dut.tx, d)
    await line.send(b"\x11\x22\x33", bad_stop={1})
    await line.idle(2 * d)
    assert rx.bytes == [0x11, 0x33] and rx.errors == 1
    await FallingEdge(dut.clk)  # a break: the line low for 5 byte times
    dut.rx.value = 0
    await ClockCycles(dut.clk, 50 * d, rising=False)
    dut.rx.value = 1
    await line.idle(3 * d)
    assert rx.errors == 2 and rx.bytes == [0x11, 0x33]
    await line.send(b"\x44")
    await line.idle(2 * d)
    assert rx.bytes == [0x11, 0x33, 0x44] and rx.errors == 2


@cocotb.test()
async def test_rx_overrun(dut):
    d = await _setup(dut)
    dut.rx_source__ready.value = 0
    line = UartLine(dut.clk, dut.rx, dut.tx, d)
    overruns = 0

    async def count() -> None:
        nonlocal overruns
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            overruns += int(dut.rx_overrun.value)

    cocotb.start_soon(count())
    await line.send(b"\xa1\xb2")
    await line.idle(2 * d)
    assert int(dut.rx_source__valid.value) == 1
    assert int(dut.rx_source__payload.value) == 0xB2
    assert overruns == 1
    await FallingEdge(dut.clk)
    dut.rx_source__ready.value = 1
    await FallingEdge(dut.clk)
    assert int(dut.rx_source__valid.value) == 0
