"""CONFIGURE executor: the SPEC §3.2 words of a frame buffer into the unit's parameter store.

:class:`ConfigWriter` is the one driver of the unit's configuration port (``config``, an
``Out(ConfigSignature(N))`` to connect to ``WatermarkUnit.config``).

* ``start`` (In strobe): read the 5 + N·(4+N) little-endian 32-bit words that follow the frame
  header and the 8-byte parameter-set header (bytes ``HEADER_BYTES + 8`` onwards of ``buf``), and
  write each to its address in the configuration map (rtl/param_store.py: key/IV words 0–4,
  then per class ``alpha, beta, a, b`` in the window space and ``C[i][0..N-1]`` in the C space);
  then strobe ``config.start`` (key load and warm-up) and pulse ``done``.
* ``lock`` (In strobe) is passed to ``config.lock``; ``locked`` and ``running`` (Out) show the
  unit's ``config.locked`` / ``config.running``.

The encoding's own CRC-32 is not checked here: the frame CRC-16 protected the transfer and the
host validated the set. Latency: 4 cycles a byte (read, wait, use, advance), then 1 to start.
Invariants: nothing is written outside the configuration map; ``buf`` is only read.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from dynamarks.rtl.frame_slots import BufferPort
from dynamarks.rtl.param_store import (
    SPACE_C,
    SPACE_KEY,
    SPACE_WINDOW,
    ConfigSignature,
    class_bits,
)
from dynamarks.wire import HEADER_BYTES, PARAMS_HEADER_BYTES, config_words


class ConfigWriter(wiring.Component):
    """Writes a CONFIGURE frame's parameter words into the unit (see the module docstring)."""

    def __init__(self, classes: int, depth: int) -> None:
        self.classes, self.depth = classes, depth
        super().__init__({
            "start": In(1),
            "done": Out(1),
            "lock": In(1),
            "locked": Out(1),
            "running": Out(1),
            "buf": Out(BufferPort(depth)),
            "config": Out(ConfigSignature(classes)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        n = self.classes
        cb = class_bits(n)
        first = HEADER_BYTES + PARAMS_HEADER_BYTES
        last = first + 4 * config_words(n) - 1
        cfg = self.config
        m.d.comb += [cfg.lock.eq(self.lock), self.locked.eq(cfg.locked),
                     self.running.eq(cfg.running)]

        raddr = Signal(range(self.depth))
        word = Signal(32)
        byte = Signal(2)
        we = Signal()
        go = Signal()
        m.d.comb += [self.buf.raddr.eq(raddr), cfg.we.eq(we), cfg.data.eq(word),
                     cfg.start.eq(go)]
        m.d.sync += [we.eq(0), go.eq(0), self.done.eq(0)]

        # The word's position: key/IV word kw, or class cls field fld (0-3 window, 4.. C).
        # (``config.addr`` is a register too: the position changes only after the write it
        # addresses — in NEXT — so the address registered in USE is the write's)
        key = Signal()
        kw = Signal(range(5))
        cls = Signal(cb)
        fld = Signal(range(n + 4))
        addr = Signal.like(cfg.addr)
        m.d.comb += cfg.addr.eq(addr)
        with m.If(key):
            m.d.sync += addr.eq((SPACE_KEY << 2 * cb) | kw)
        with m.Elif(fld < 4):
            m.d.sync += addr.eq(Cat(fld[:cb], cls, Const(SPACE_WINDOW, 2)))
        with m.Else():
            m.d.sync += addr.eq(Cat((fld - 4)[:cb], cls, Const(SPACE_C, 2)))

        # ``bump``: the write NEXT sees is a C table's last field (registered in USE, where the
        # position does not change), so the class advance is one flag, not a compare, in NEXT.
        bump = Signal()
        with m.FSM():
            with m.State("IDLE"):  # the position is reset every idle cycle, not on start
                m.d.sync += [raddr.eq(first), byte.eq(0), key.eq(1), kw.eq(0), cls.eq(0),
                             fld.eq(0)]
                with m.If(self.start):
                    m.next = "READ"
            with m.State("READ"):  # the buffer reads raddr (data two cycles later)
                m.next = "WAIT"
            with m.State("WAIT"):
                m.next = "USE"
            with m.State("USE"):
                m.d.sync += [word.eq(Cat(word[8:], self.buf.rdata)), raddr.eq(raddr + 1),
                             byte.eq(byte + 1), we.eq(byte == 3),
                             bump.eq((byte == 3) & ~key & (fld == n + 3))]
                with m.If(raddr == last):
                    m.next = "FINISH"
                with m.Else():
                    m.next = "NEXT"
            with m.State("NEXT"):  # the address advances after the write it addressed
                with m.If(we):
                    with m.If(key):
                        m.d.sync += kw.eq(kw + 1)
                        with m.If(kw == 4):
                            m.d.sync += key.eq(0)
                    with m.Elif(bump):
                        m.d.sync += [fld.eq(0), cls.eq(cls + 1)]
                    with m.Else():
                        m.d.sync += fld.eq(fld + 1)
                m.next = "READ"
            with m.State("FINISH"):  # the last word is being written this cycle
                m.d.sync += [go.eq(1), self.done.eq(1)]
                m.next = "IDLE"
        return m
