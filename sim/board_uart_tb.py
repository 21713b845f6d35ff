"""cocotb helpers for the board benches: a UART line driver and monitor at the pins.

:class:`UartLine` drives a design's UART input pin and listens on its output pin:

* ``await line.send(data)`` bit-bangs bytes (start bit, 8 data bits LSB first, stop bit) with a
  bit time of ``divisor`` clock cycles — or ``bit_cycles`` (a float: a sender whose clock is off,
  the edges placed on the nearest cycle of the accumulated time) — driving on falling edges;
  ``bad_stop`` makes the stop bit of the listed byte indices 0 (a framing error);
* a monitor coroutine samples the output pin in the middle of each bit (after its falling start
  edge), checks the stop bit (``stop_errors`` counts the bad ones) and queues the bytes;
  ``await line.read_block(max_cycles)`` returns the next 0x00-delimited block (COBS frames), or
  raises ``TimeoutError``.

Everything is counted in clock cycles, so the benches are independent of the clock period.
"""

from __future__ import annotations

from collections import deque

import cocotb
from cocotb.triggers import ClockCycles, Event, FallingEdge, First


class UartLine:
    def __init__(self, clk, rx_pin, tx_pin, divisor: int) -> None:
        self.clk = clk
        self.rx_pin = rx_pin  # the design's input: we drive it
        self.tx_pin = tx_pin  # the design's output: we sample it
        self.divisor = divisor
        self.received: deque[int] = deque()
        self.stop_errors = 0
        self._got = Event()
        self.rx_pin.value = 1
        self._task = cocotb.start_soon(self._monitor())

    async def idle(self, cycles: int) -> None:
        await ClockCycles(self.clk, cycles, rising=False)

    async def send(
        self,
        data: bytes,
        *,
        bit_cycles: float | None = None,
        bad_stop: frozenset[int] | set[int] = frozenset(),
    ) -> None:
        step = float(bit_cycles or self.divisor)
        t, now = 0.0, 0
        for k, byte in enumerate(data):
            stop = 0 if k in bad_stop else 1
            for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [stop]:
                t += step
                cycles = round(t) - now
                now += cycles
                await FallingEdge(self.clk)
                self.rx_pin.value = bit
                if cycles > 1:
                    await ClockCycles(self.clk, cycles - 1, rising=False)
            if stop == 0:  # let the receiver see the line idle again before the next byte
                await FallingEdge(self.clk)
                self.rx_pin.value = 1
                await ClockCycles(self.clk, 2 * self.divisor, rising=False)
        await FallingEdge(self.clk)
        self.rx_pin.value = 1

    async def glitch(self, low_cycles: int) -> None:
        await FallingEdge(self.clk)
        self.rx_pin.value = 0
        await ClockCycles(self.clk, low_cycles, rising=False)
        self.rx_pin.value = 1

    async def _monitor(self) -> None:
        d = self.divisor
        while True:
            if int(self.tx_pin.value) == 1:
                await FallingEdge(self.tx_pin)
            # start bit began at the last rising clock edge: go to its middle
            await ClockCycles(self.clk, d // 2, rising=False)
            if int(self.tx_pin.value) != 0:
                continue  # a glitch, not a start bit
            byte = 0
            for i in range(8):
                await ClockCycles(self.clk, d, rising=False)
                byte |= int(self.tx_pin.value) << i
            await ClockCycles(self.clk, d, rising=False)
            if int(self.tx_pin.value) != 1:
                self.stop_errors += 1
                continue
            self.received.append(byte)
            self._got.set()

    async def read_byte(self, max_cycles: int) -> int:
        while not self.received:
            self._got.clear()
            timeout = ClockCycles(self.clk, max_cycles)
            if await First(self._got.wait(), timeout) is timeout:
                raise TimeoutError(f"no byte within {max_cycles} cycles")
        return self.received.popleft()

    async def read_block(self, max_cycles: int = 200_000) -> bytes:
        """The next non-empty 0x00-delimited block (delimiter stripped)."""
        out = bytearray()
        while True:
            b = await self.read_byte(max_cycles)
            if b == 0:
                if out:
                    return bytes(out)
                continue
            out.append(b)
