"""UART receiver and transmitter, 8N1, with a fixed clock divisor.

No maintained Amaranth UART is on PyPI, so these two small blocks are written here.

``divisor`` is the number of clock cycles per bit, ``round(clk_freq / baud)``; it must be at least
4 (see :func:`divisor_for`, which also refuses a baud rate the clock cannot hit within 2 %).

:class:`UartRx` — ``rx`` (In 1, idle high) → ``source`` (Out stream of bytes).
  A two-flip-flop synchroniser feeds a bit-timing counter running at the clock (the clock is the
  ``divisor``-times oversampling clock). A falling edge starts a candidate start bit; it is
  *validated* half a bit later (line still low), else it was a glitch and the receiver returns to
  idle. Each data bit is sampled once in its middle (every ``divisor`` cycles), LSB first; the stop
  bit is sampled in its middle and the receiver is ready for the next start bit from there on, so
  a sender up to about 4 % fast or slow is received correctly.
  A stop bit that reads 0 (framing error, or a break) drops the byte, pulses ``error`` for one
  cycle and waits for the line to go high again. ``source.valid`` rises with each byte and stays
  until ``source.ready``; a byte completing while the previous one is still waiting replaces it
  and pulses ``overrun``. Latency: the byte is valid 2 cycles (synchroniser) plus about half a
  bit after the middle of the stop bit.

:class:`UartTx` — ``sink`` (In stream of bytes) → ``tx`` (Out 1, idle high).
  ``sink.ready`` (a register) is high while idle and in the last cycle of a stop bit; a byte
  taken goes out as start bit, 8 data bits LSB first and one stop bit, each exactly ``divisor``
  cycles, starting the cycle after the transfer. Back-to-back bytes leave no idle time between
  the stop bit and the next start bit (a byte every 10·divisor cycles).

Invariants: ``tx`` is a register (no glitches); ``rx`` is only used through the synchroniser.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


def divisor_for(clk_freq: float, baud: float) -> int:
    """``round(clk_freq / baud)``; ValueError when below 4 or off by more than 2 %."""
    divisor = round(clk_freq / baud)
    if divisor < 4:
        raise ValueError(f"clock {clk_freq:g} Hz is too slow for {baud:g} baud (needs 4x)")
    error = abs(clk_freq / divisor - baud) / baud
    if error > 0.02:
        raise ValueError(f"{baud:g} baud from {clk_freq:g} Hz is off by {error:.1%} (max 2 %)")
    return divisor


class UartRx(wiring.Component):
    """8N1 receiver (see the module docstring)."""

    def __init__(self, divisor: int) -> None:
        if divisor < 4:
            raise ValueError("divisor must be at least 4")
        self.divisor = divisor
        super().__init__({
            "rx": In(1, init=1),
            "source": Out(stream.Signature(8)),
            "error": Out(1),
            "overrun": Out(1),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        d = self.divisor
        meta = Signal(init=1)
        line = Signal(init=1)
        m.d.sync += [meta.eq(self.rx), line.eq(meta)]

        count = Signal(range(d))
        bits = Signal(range(8))
        shreg = Signal(8)
        m.d.sync += [self.error.eq(0), self.overrun.eq(0)]
        with m.If(self.source.ready):
            m.d.sync += self.source.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += count.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(count != 0):
                    m.d.sync += count.eq(count - 1)
                with m.Elif(~line):  # still low half a bit later: a real start bit
                    m.d.sync += [count.eq(d - 1), bits.eq(0)]
                    m.next = "DATA"
                with m.Else():
                    m.next = "IDLE"
            with m.State("DATA"):
                with m.If(count != 0):
                    m.d.sync += count.eq(count - 1)
                with m.Else():
                    m.d.sync += [shreg.eq(Cat(shreg[1:], line)), count.eq(d - 1),
                                 bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(count != 0):
                    m.d.sync += count.eq(count - 1)
                with m.Elif(line):
                    m.d.sync += [self.source.payload.eq(shreg), self.source.valid.eq(1),
                                 self.overrun.eq(self.source.valid & ~self.source.ready)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += self.error.eq(1)
                    m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(line):
                    m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    """8N1 transmitter (see the module docstring)."""

    def __init__(self, divisor: int) -> None:
        if divisor < 4:
            raise ValueError("divisor must be at least 4")
        self.divisor = divisor
        super().__init__({
            "sink": In(stream.Signature(8)),
            "tx": Out(1, init=1),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        d = self.divisor
        shreg = Signal(9, init=0x1FF)  # data bits then the stop bit; ones shift in behind
        count = Signal(range(d))
        left = Signal(range(11))  # bit periods still to finish

        # Ready while idle and in the last cycle of a stop bit, so that back-to-back bytes leave
        # no idle time: ``ready == (left == 0) | ((left == 1) & (count == 0))``, kept in a
        # register (set from the next state), so no counter compare reaches the sender's logic.
        ready = Signal(init=1)
        m.d.comb += self.sink.ready.eq(ready)
        with m.If(ready & self.sink.valid):
            m.d.sync += [shreg.eq(Cat(self.sink.payload, 1)), self.tx.eq(0),
                         count.eq(d - 1), left.eq(10), ready.eq(0)]
        with m.Elif(left == 0):
            m.d.sync += ready.eq(1)
        with m.Elif(count != 0):
            m.d.sync += [count.eq(count - 1), ready.eq((left == 1) & (count == 1))]
        with m.Else():
            m.d.sync += [self.tx.eq(shreg[0]), shreg.eq(Cat(shreg[1:], 1)),
                         count.eq(d - 1), left.eq(left - 1), ready.eq(left == 1)]
        return m
