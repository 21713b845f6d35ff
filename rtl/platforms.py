"""Board platforms and wrappers: the iCEBreaker (iCE40UP5K-SG48) and the ULX3S (ECP5).

Pins come from amaranth-boards (the board file's ``uart`` resource, its LEDs and its oscillator);
this module adds what the board files do not: a PLL that raises the system clock, a reset held
until the PLL has locked, and two wrappers.

* :class:`BoardWrapper` puts any design with ``uart_rx`` (In 1) / ``uart_tx`` (Out 1) ports —
  :class:`dynamarks.rtl.top.BoardTop`, or :class:`UnitIOWrapper` — on a board: it builds the
  ``sync`` domain from the PLL, ties the UART pins, and shows "locked" on an LED.
* :class:`UnitIOWrapper` makes the watermark unit placeable on its own (its ~170 ports do not
  fit the UP5K's 39 I/O): every input bit comes from a flip-flop of a shift chain fed by one pin,
  and every output bit is XORed (three to a LUT) into the D input of one of those flip-flops, so
  the chain also carries the outputs to the one output pin. Every path of the unit therefore
  starts and ends at a flip-flop (the unit's outputs are its registers or one LUT from them), so
  nextpnr's Fmax is the unit's own register-to-register Fmax, and nothing can be optimised away.
  The wrapper's own cost is one logic cell per chain flip-flop (its LUT is the XOR):
  :func:`UnitIOWrapper.overhead` states it so reports can subtract it.

Clocks (documented in constraints/README.md). The unit-only build runs at the issue's Fmax
target; the whole top at a clock that is an exact multiple of its 3,000,000-baud line rate
(16 cycles a bit on the iCEBreaker, 20 on the ULX3S):

=============  ==========  ==========  =========  ===============================================
board          oscillator  unit build  whole top  PLL (whole top)
=============  ==========  ==========  =========  ===============================================
iCEBreaker     12 MHz      48 MHz      48 MHz     SB_PLL40_PAD, DIVR=0 DIVF=63 DIVQ=4
ULX3S          25 MHz      125 MHz     60 MHz     EHXPLLL, CLKI_DIV=5 CLKFB_DIV=12 CLKOP_DIV=10
=============  ==========  ==========  =========  ===============================================

:func:`ice40_pll` and :func:`ecp5_pll` search the divider space (as ``icepll``/``ecppll`` do)
for any other frequency.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import reduce
from operator import xor

from amaranth import (
    Cat,
    ClockDomain,
    ClockSignal,
    Const,
    DomainRenamer,
    Elaboratable,
    Instance,
    Module,
    ResetSignal,
    Signal,
    Value,
)
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

__all__ = [
    "BOARDS",
    "BoardInfo",
    "BoardWrapper",
    "Ecp5Pll",
    "Ice40Pll",
    "PowerOnReset",
    "UnitIOWrapper",
    "ecp5_pll",
    "ice40_pll",
    "make_platform",
    "sync_frequency",
]


# ---------------------------------------------------------------------------------------------
# PLL dividers


@dataclass(frozen=True)
class Ice40Pll:
    """SB_PLL40 dividers (SIMPLE feedback): ``f_out = f_in·(divf + 1) / ((divr + 1)·2**divq)``."""

    divr: int
    divf: int
    divq: int
    filter_range: int
    f_in: float
    f_out: float


@dataclass(frozen=True)
class Ecp5Pll:
    """EHXPLLL dividers, feedback from CLKOP: ``f_out = f_in * clkfb_div / clki_div``;
    ``f_vco = f_out * clkop_div``."""

    clki_div: int
    clkfb_div: int
    clkop_div: int
    f_in: float
    f_out: float

    @property
    def f_vco(self) -> float:
        return self.f_out * self.clkop_div


def ice40_pll(f_in: float, f_out: float) -> Ice40Pll:
    """The iCE40 PLL setting closest to ``f_out`` Hz (ties: lowest DIVR, as icepll).

    Limits (iCE40 sysCLOCK PLL guide): PFD 10–133 MHz, VCO 533–1066 MHz, output 16–275 MHz,
    DIVR 0–15, DIVF 0–127, DIVQ 1–6. FILTER_RANGE follows the PFD frequency as icepll sets it.
    """
    best: Ice40Pll | None = None
    for divr in range(16):
        f_pfd = f_in / (divr + 1)
        if not 10e6 <= f_pfd <= 133e6:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not 533e6 <= f_vco <= 1066e6:
                continue
            for divq in range(1, 7):
                f = f_vco / 2**divq
                if not 16e6 <= f <= 275e6:
                    continue
                if best is None or abs(f - f_out) < abs(best.f_out - f_out):
                    fr = next(i + 1 for i, lim in enumerate((17e6, 26e6, 44e6, 66e6, 101e6, 1e12))
                              if f_pfd < lim)
                    best = Ice40Pll(divr, divf, divq, fr, f_in, f)
    if best is None:
        raise ValueError(f"no iCE40 PLL setting reaches {f_out / 1e6:.3f} MHz from "
                         f"{f_in / 1e6:.3f} MHz")
    return best


def ecp5_pll(f_in: float, f_out: float) -> Ecp5Pll:
    """The ECP5 EHXPLLL setting closest to ``f_out`` Hz, feedback through CLKOP.

    Limits (ECP5 sysCLOCK guide, as ecppll uses them): PFD 3.125–400 MHz, VCO 400–800 MHz,
    CLKI_DIV 1–128, CLKFB_DIV 1–80, CLKOP_DIV 1–128. Among equally close settings the one with
    the VCO nearest 600 MHz wins.
    """
    best: tuple[float, float, Ecp5Pll] | None = None
    for clki_div in range(1, 129):
        f_pfd = f_in / clki_div
        if not 3.125e6 <= f_pfd <= 400e6:
            continue
        for clkfb_div in range(1, 81):
            f = f_pfd * clkfb_div
            for clkop_div in range(1, 129):
                f_vco = f * clkop_div
                if not 400e6 <= f_vco <= 800e6:
                    continue
                key = (abs(f - f_out), abs(f_vco - 600e6))
                if best is None or key < best[:2]:
                    best = (*key, Ecp5Pll(clki_div, clkfb_div, clkop_div, f_in, f))
    if best is None:
        raise ValueError(f"no ECP5 PLL setting reaches {f_out / 1e6:.3f} MHz")
    return best[2]


# ---------------------------------------------------------------------------------------------
# Boards


@dataclass(frozen=True)
class BoardInfo:
    """What the flow needs to know of a board."""

    name: str
    family: str  # "ice40" | "ecp5"
    osc: str  # the board file's oscillator resource
    default_mhz: float  # system clock of the unit-only build (the Fmax target)
    target_unit_mhz: float  # the Fmax target for the unit
    top_mhz: float  # system clock of the whole top (BoardTop) by default
    variants: tuple[str, ...] = ()
    default_variant: str | None = None


BOARDS: dict[str, BoardInfo] = {
    "icebreaker": BoardInfo("icebreaker", "ice40", "clk12", 48.0, 48.0, 48.0),
    "ulx3s": BoardInfo("ulx3s", "ecp5", "clk25", 125.0, 125.0, 60.0,
                       ("12F", "25F", "45F", "85F"), "85F"),
}


def make_platform(board: str, variant: str | None = None):
    """An amaranth-boards platform instance for ``board`` (and the ULX3S ``variant``)."""
    if board == "icebreaker":
        if variant not in (None, ""):
            raise ValueError("the iCEBreaker has no variants")
        from amaranth_boards.icebreaker import ICEBreakerPlatform

        return ICEBreakerPlatform()
    if board == "ulx3s":
        import amaranth_boards.ulx3s as ulx3s

        variant = variant or BOARDS["ulx3s"].default_variant
        if variant not in BOARDS["ulx3s"].variants:
            raise ValueError(f"ULX3S variant must be one of {BOARDS['ulx3s'].variants}")
        return getattr(ulx3s, f"ULX3S_{variant}_Platform")()
    raise ValueError(f"unknown board {board!r}; choose from {sorted(BOARDS)}")


class PowerOnReset(Elaboratable):
    """Holds ``rst`` high until ``lock`` (asynchronous, e.g. a PLL's LOCK) has been high,
    through a two-stage synchroniser, for ``cycles`` clocks; a drop of ``lock`` raises ``rst``
    again and restarts the count. Reset-less (it is the reset): ``rst`` starts high.

    ``rst`` is a register (its fan-out to every flip-flop starts at a clock edge) and the
    timer counts only while it is set, so the terminal-count comparator feeds ``rst`` alone,
    not the timer's own enables. ``rst`` falls on the clock edge ``cycles + 1`` after the
    first edge that samples ``lock`` high (2 for the synchroniser).
    """

    def __init__(self, cycles: int):
        if cycles < 1:
            raise ValueError("cycles must be ≥ 1")
        self.cycles = cycles
        self.lock = Signal()
        self.rst = Signal(init=1)

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.cycles + 1), reset_less=True)
        lock_s = Signal(2, reset_less=True)
        m.d.sync += lock_s.eq(Cat(self.lock, lock_s[0]))
        with m.If(~lock_s[1]):
            m.d.sync += [timer.eq(0), self.rst.eq(1)]
        with m.Elif(self.rst):
            m.d.sync += [timer.eq(timer + 1), self.rst.eq(timer != self.cycles - 1)]
        return m


class PllClock(Elaboratable):
    """Drives the ``sync`` domain (defined by its parent) from the board oscillator through
    the family's PLL.

    ``sync`` is held in reset until the PLL reports lock and then for ``por_us`` microseconds
    more (iCE40 BRAMs read as zero for ~3 µs after configuration; Amaranth's own power-on reset
    waits 15 µs, and so does this). ``locked`` is high once the reset has been released.
    """

    def __init__(self, family: str, osc: str, f_in: float, f_out: float, por_us: float = 15.0):
        self.family, self.osc, self.f_in = family, osc, f_in
        if family == "ice40":
            self.pll = ice40_pll(f_in, f_out)
        elif family == "ecp5":
            self.pll = ecp5_pll(f_in, f_out)
        else:
            raise ValueError(family)
        self.f_out = self.pll.f_out
        self.por_cycles = max(1, int(por_us * 1e-6 * self.f_out))
        self.locked = Signal()

    def elaborate(self, platform):
        m = Module()
        clk = Signal()
        lock = Signal()
        if self.family == "ice40":
            p = self.pll
            m.submodules.pll = Instance(
                "SB_PLL40_PAD",
                p_FEEDBACK_PATH="SIMPLE",
                p_DIVR=p.divr, p_DIVF=p.divf, p_DIVQ=p.divq, p_FILTER_RANGE=p.filter_range,
                i_PACKAGEPIN=platform.request(self.osc, dir="-").io,
                i_RESETB=Const(1), i_BYPASS=Const(0),
                o_PLLOUTGLOBAL=clk, o_LOCK=lock,
            )
        else:
            p = self.pll
            m.submodules.clk_buf = clk_buf = io.Buffer("i", platform.request(self.osc, dir="-"))
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=f"{p.f_in / 1e6:g}",
                a_FREQUENCY_PIN_CLKOP=f"{p.f_out / 1e6:g}",
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8",
                a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
                p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p.clkop_div,
                p_CLKOP_CPHASE=p.clkop_div - 1, p_CLKOP_FPHASE=0,
                p_CLKI_DIV=p.clki_div, p_CLKFB_DIV=p.clkfb_div, p_FEEDBK_PATH="CLKOP",
                i_RST=Const(0), i_STDBY=Const(0), i_CLKI=clk_buf.i, i_CLKFB=clk,
                i_PHASESEL0=Const(0), i_PHASESEL1=Const(0), i_PHASEDIR=Const(1),
                i_PHASESTEP=Const(1), i_PHASELOADREG=Const(1), i_PLLWAKESYNC=Const(0),
                i_ENCLKOP=Const(0),
                o_CLKOP=clk, o_LOCK=lock,
            )
        # Power-on reset on the PLL clock, restarted while unlocked.
        m.domains.por = ClockDomain("por", reset_less=True, local=True)
        m.d.comb += ClockSignal("por").eq(clk)
        m.d.comb += ClockSignal("sync").eq(clk)
        m.submodules.por = por = DomainRenamer("por")(PowerOnReset(self.por_cycles))
        m.d.comb += [
            por.lock.eq(lock),
            ResetSignal("sync").eq(por.rst),
            self.locked.eq(~por.rst),
        ]
        # The sync clock's frequency constraint is written by synth.py (net "clk" of the
        # flattened design); Amaranth's add_clock_constraint names a hierarchical net that
        # yosys merges away.
        return m


def sync_frequency(board: BoardInfo, clk_mhz: float | None = None) -> float:
    """The system clock (Hz) the PLL makes on ``board`` for a requested ``clk_mhz``."""
    f_in = {"clk12": 12e6, "clk25": 25e6}[board.osc]
    f_out = (clk_mhz or board.top_mhz) * 1e6
    pll = ice40_pll(f_in, f_out) if board.family == "ice40" else ecp5_pll(f_in, f_out)
    return pll.f_out


class BoardWrapper(Elaboratable):
    """Puts ``design`` (with ``uart_rx`` In(1) and ``uart_tx`` Out(1)) on a board.

    The UART pins are the board file's ``uart`` resource 0 (the USB-serial bridge on both
    boards); LED 0 shows that the PLL has locked and reset has been released.
    """

    def __init__(self, design: Elaboratable, board: BoardInfo, clk_mhz: float | None = None):
        self.design, self.board = design, board
        f_in = {"clk12": 12e6, "clk25": 25e6}[board.osc]
        self.clock = PllClock(board.family, board.osc, f_in, (clk_mhz or board.top_mhz) * 1e6)

    @property
    def f_sync(self) -> float:
        """The system clock in Hz (what the PLL actually makes)."""
        return self.clock.f_out

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain("sync")  # driven by PllClock
        m.submodules.clock = self.clock
        m.submodules.design = self.design
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.d.comb += [self.design.uart_rx.eq(rx.i), tx.o.eq(self.design.uart_tx),
                     led.o.eq(self.clock.locked)]
        return m


class UnitIOWrapper(wiring.Component):
    """Registered-I/O harness that makes a component placeable out of context.

    Ports: ``uart_rx`` (In 1, the serial input of the chain) and ``uart_tx`` (Out 1, the
    chain's last flip-flop) — named like BoardTop's so :class:`BoardWrapper` can put it on the
    board's UART pins.

    Structure: a shift chain of ``length = max(in_bits, ceil(out_bits / 3), 1)`` flip-flops,
    ``chain[k] <= chain[k-1] ^ o[3k] ^ o[3k+1] ^ o[3k+2]`` (``chain[-1]`` is ``uart_rx``; the
    ``o`` are the component's output bits in signature order). Bit ``k`` of the chain drives
    input bit ``k`` of the component. Each chain flip-flop shares its logic cell with its XOR
    LUT (a LUT4 whose only load is that flip-flop), so the wrapper costs ``length`` logic cells,
    ``length`` flip-flops and ``ceil(out_bits / 3)`` LUT4s, and adds no cell to the component's
    own logic cells.

    What it guarantees: every input of the component is a flip-flop output, every output bit
    reaches ``uart_tx`` (through the chain, so no output logic can be removed as unused), and
    every component output goes through one LUT into a flip-flop. The component's outputs must
    therefore be registers or shallow logic from registers (the watermark unit's are registers,
    and ``source.payload`` is its skid buffer's 2:1 choice between registers), so that the
    wrapper adds no long path and merges no component logic into its own LUTs.
    """

    #: output bits folded into one chain flip-flop's LUT (a LUT4: the chain bit and three)
    FOLD = 3

    def __init__(self, inner: wiring.Component):
        self.inner = inner
        self.in_bits = self.out_bits = 0
        for member, value in self._ports():
            if member.flow == In:
                self.in_bits += len(value)
            else:
                self.out_bits += len(value)
        self.length = max(self.in_bits, -(-self.out_bits // self.FOLD), 1)
        super().__init__({"uart_rx": In(1), "uart_tx": Out(1)})

    def _ports(self):
        """(member, value) of the component's ports, constants (e.g. the ``ready`` of an
        ``always_ready`` stream) left out."""
        for _path, member, value in self.inner.signature.flatten(self.inner):
            value = Value.cast(value)
            if not isinstance(value, Const):
                yield member, value

    def overhead(self) -> dict[str, int]:
        """What the wrapper itself adds around the component: ``lcs`` logic cells (one per
        chain flip-flop, its XOR LUT packed with it), ``ffs`` flip-flops, ``luts`` LUT4s (the
        XOR folds), and the component's ``in_bits`` / ``out_bits``."""
        return {"lcs": self.length, "ffs": self.length,
                "luts": -(-self.out_bits // self.FOLD), "in_bits": self.in_bits,
                "out_bits": self.out_bits}

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = self.inner
        chain = Signal(self.length)
        pos, outs = 0, []
        for member, value in self._ports():
            if member.flow == In:
                m.d.comb += value.eq(chain[pos:pos + len(value)])
                pos += len(value)
            else:
                outs.extend(value[k] for k in range(len(value)))
        prev = [self.uart_rx, *(chain[k] for k in range(self.length - 1))]
        for k in range(self.length):
            fold = outs[self.FOLD * k:self.FOLD * (k + 1)]
            m.d.sync += chain[k].eq(reduce(xor, fold, prev[k]))
        m.d.comb += self.uart_tx.eq(chain[-1])
        return m


def construct(cls, **kwargs):
    """``cls(**kwargs)`` keeping only the keyword arguments its constructor takes (BoardTop's
    and WatermarkUnit's parameter names are theirs to choose; unknown ones are dropped)."""
    params = inspect.signature(cls).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return cls(**kwargs)
    return cls(**{k: v for k, v in kwargs.items() if k in params})
