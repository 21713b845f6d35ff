"""A wide wrapping event counter: two half-length carry chains, or an iCE40 DSP accumulator."""

from amaranth import Const, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .family import fpga_family

__all__ = ["SplitCounter", "ice40_mac16_multiplier"]

#: The widest count one iCE40 ``SB_MAC16`` accumulator holds.
MAC16_WIDTH = 32


class SplitCounter(wiring.Component):
    """``value += inc`` every cycle, wrapping at 2^width, with two carry chains of half length.

    What it does
        The low half adds ``inc`` (0…``max_inc``); the high half adds the low half's carry
        out, which is not taken from the low chain but from registers: ``near[k−1]`` is
        ``lo == 2^h − k`` (h = the low half's width), kept up to date from ``lo`` and ``inc``
        a cycle ahead. So both halves change in the same cycle (``value`` is always the exact
        count) and no path runs through more than h + 1 carry cells: a 32-bit counter is two
        16-bit chains (on the iCE40UP5K a 32-bit ripple counter alone takes ≈ 16 ns).

        On the iCE40 (``width`` ≤ 32) the count lives in an ``SB_MAC16``'s 32-bit accumulator
        instead, no logic cell (how, and why so: :func:`ice40_mac16_multiplier`): the UP5K
        has eight DSP tiles and the unit needs one for Δ. Same interface, latency and reset;
        the fabric version above is what simulation, formal proofs and the ECP5 get.

    Interface
        ``inc`` (in, 0…``max_inc``), ``value`` (out, ``width`` bits, a register; reset 0).

    Latency
        ``value`` counts ``inc`` of cycle t from cycle t+1.
    """

    def __init__(self, width: int = 32, max_inc: int = 1):
        if width < 4 or not 1 <= max_inc < 1 << (width // 2):
            raise ValueError("width ≥ 4 and 1 ≤ max_inc < 2^(width/2)")
        self.width, self.max_inc = width, max_inc
        super().__init__({"inc": In(range(max_inc + 1)), "value": Out(width)})

    def elaborate(self, platform):
        m = Module()
        if fpga_family(platform) == "ice40" and self.width <= MAC16_WIDTH:
            # acc += inc · 1: a multiplier SB_MAC16 whose product feeds a fabric adder and
            # register, which `synth_ice40 -dsp` folds into the DSP's accumulator.
            prod = Signal(MAC16_WIDTH)
            acc = Signal(MAC16_WIDTH)
            m.submodules.mac = ice40_mac16_multiplier(self.inc, Const(1, 16), prod)
            m.d.sync += acc.eq(acc + prod)
            m.d.comb += self.value.eq(acc[:self.width])
            return m
        h = self.width // 2
        top = 1 << h
        lo, hi = self.value[:h], self.value[h:]
        inc = self.inc
        # near[k-1] == (lo == 2^h - k): the low half carries out iff inc >= k for such a k.
        near = Signal(self.max_inc)
        carry = Signal()
        m.d.comb += carry.eq(sum((near[k - 1] & (inc >= k)) for k in range(1, self.max_inc + 1))
                             != 0)
        m.d.sync += lo.eq(lo + inc)
        with m.If(carry):
            m.d.sync += hi.eq(hi + 1)
        # Next flags: lo + inc == top - k  <=>  lo == top - k - inc (mod 2^h); inc == 0 keeps.
        for k in range(1, self.max_inc + 1):
            with m.Switch(inc):
                for i in range(1, self.max_inc + 1):
                    with m.Case(i):
                        m.d.sync += near[k - 1].eq(lo == (top - k - i) % top)
        return m


def ice40_mac16_multiplier(a, b, prod) -> Instance:
    """An iCE40 ``SB_MAC16`` as a purely combinational unsigned 16 × 16 multiplier,
    ``prod = a · b`` (``a``, ``b`` ≤ 16 bits, ``prod`` 32 bits), configured as yosys's own
    ``$__MUL16X16`` mapping configures it (``ice40/dsp_map.v``).

    Why not the accumulator configuration itself: yosys's ``ice40_dsp`` pass (run by
    ``synth_ice40 -dsp``) treats every ``SB_MAC16`` it finds as a multiplier and rewrites its
    mode from the cells around it (YosysHQ/yosys#2922), which turns a hand-configured
    accumulator into a multiplier with its clock tied off. A multiplier instance followed by
    ``acc <= acc + prod`` (with a synchronous reset) is exactly the pattern the pass folds into
    the DSP's adder and output register (``TOPADDSUB_UPPERINPUT`` = accumulator,
    ``OLOAD`` = reset); without ``-dsp`` the same netlist is still correct, with the adder in
    the fabric.
    """
    zero1, zero16 = Const(0, 1), Const(0, 16)
    return Instance(
        "SB_MAC16",
        p_NEG_TRIGGER=Const(0, 1),
        p_C_REG=Const(0, 1), p_A_REG=Const(0, 1), p_B_REG=Const(0, 1), p_D_REG=Const(0, 1),
        p_TOP_8x8_MULT_REG=Const(0, 1), p_BOT_8x8_MULT_REG=Const(0, 1),
        p_PIPELINE_16x16_MULT_REG1=Const(0, 1), p_PIPELINE_16x16_MULT_REG2=Const(0, 1),
        p_TOPOUTPUT_SELECT=Const(3, 2), p_TOPADDSUB_LOWERINPUT=Const(0, 2),
        p_TOPADDSUB_UPPERINPUT=Const(0, 1), p_TOPADDSUB_CARRYSELECT=Const(0, 2),
        p_BOTOUTPUT_SELECT=Const(3, 2), p_BOTADDSUB_LOWERINPUT=Const(0, 2),
        p_BOTADDSUB_UPPERINPUT=Const(0, 1), p_BOTADDSUB_CARRYSELECT=Const(0, 2),
        p_MODE_8x8=Const(0, 1), p_A_SIGNED=Const(0, 1), p_B_SIGNED=Const(0, 1),
        i_CLK=zero1, i_CE=zero1,
        i_A=a.as_unsigned() | zero16, i_B=b.as_unsigned() | zero16, i_C=zero16, i_D=zero16,
        i_AHOLD=zero1, i_BHOLD=zero1, i_CHOLD=zero1, i_DHOLD=zero1,
        i_IRSTTOP=zero1, i_IRSTBOT=zero1, i_ORSTTOP=zero1, i_ORSTBOT=zero1,
        i_OLOADTOP=zero1, i_OLOADBOT=zero1, i_ADDSUBTOP=zero1, i_ADDSUBBOT=zero1,
        i_OHOLDTOP=zero1, i_OHOLDBOT=zero1, i_CI=zero1, i_ACCUMCI=zero1, i_SIGNEXTIN=zero1,
        o_O=prod,
    )
