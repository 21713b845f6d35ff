"""Uniform Δ draw by multiply–shift (SPEC §7), on the FPGA's multiplier."""

from amaranth import Cat, ClockSignal, Const, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .family import fpga_family

__all__ = ["DeltaGen"]


class DeltaGen(wiring.Component):
    """``hi = (r · (b − a)) >> 16``, so that ``Δ = a + hi`` (SPEC §7), in two held registers.

    What it does
        On ``load`` it registers ``d = b − a`` (W bits: ``1 ≤ d ≤ ONE`` for a valid set) and
        ``r``; on ``fire`` it registers the product ``r · d`` (16 × W → 16+W bits). ``hi`` is
        the product's top W bits. Both registers hold between their strobes, so ``hi`` stays
        valid for as long as the vector needs it. The unit adds ``a`` to the word first and
        ``hi`` last (``p ± Δ = (p ± a) ± hi``), so no adder follows the product here: the
        product is a plain ``*`` between registers that yosys maps onto a DSP with its input
        and output registers absorbed (``SB_MAC16`` via ``synth_ice40 -dsp``). On the ECP5
        yosys maps a ``*`` onto a purely combinational ``MULT18X18D`` and leaves the registers
        in the fabric (the multiplier alone then takes ≈ 7 ns between two fabric flip-flops),
        so there, for W ≤ 16, the block instantiates ``MULT18X18D`` itself with its input
        registers (clock enable ``load``) and its output register (clock enable ``fire``):
        the same two registers, the same behaviour, inside the DSP. For W > 16 the product
        is split by hand into ``r·d_lo`` (16 × 16) and
        ``r·d_hi`` (16 × (W−16)), each registered at its own DSP's output, and
        ``hi = r·d_hi + (r·d_lo >> 16)`` (exact: ``r·d_hi << 16`` has no bits below 16).

        With ``whole=True`` (W ≤ 16; the sequencer asks for it on the iCE40) ``a`` is
        registered on ``load`` as well and the output is ``delta = a + hi`` itself, the add
        done by the ``SB_MAC16``'s post-adder into the same output register (the alter stage
        then needs neither ``a`` nor a second carry chain: −32 logic cells). There the DSP
        multiplies ``r`` by ``d − 1 = ~(a + ~b + 1)`` and adds ``r`` back in its addend,
        ``r·d + a·2¹⁶ = r·(d − 1) + Cat(r, a)``: the addend has no constant bits, so yosys
        takes ``r`` and ``a`` (one 32-bit register) into the DSP's A, C and D input registers,
        and the chain's operands ``a`` and ``~b`` are the parameter store's fields as stored
        (it keeps ``~b``). ``d − 1`` is kept in fabric flip-flops rather than the DSP's input
        register (see ``elaborate``): the same registers and behaviour, a shorter path.

    Interface
        ``a``, ``b`` (W bits), ``r`` (16 bits), ``load`` in; ``fire`` in; ``hi`` (W bits) out
        (``delta`` instead with ``whole=True``).

    Latency
        ``load`` in cycle t, ``fire`` in cycle t+1 or later: ``hi`` from the cycle after
        ``fire`` until the next ``fire``.

    Invariants
        ``0 ≤ hi ≤ b − a − 1`` whenever ``a < b`` (since ``r < 2¹⁶``), so ``a ≤ Δ < b``; the
        intermediate values cannot overflow (``r·d < 2¹⁶·2^(W−1)``). Any ``a ≠ b`` gives
        ``(a + ((r·((b − a) mod 2^W)) >> 16)) mod 2^W`` in both forms; ``a == b`` (refused by
        SPEC §3.1) gives ``a`` in the split form and not in the whole one (``d − 1`` wraps).
    """

    def __init__(self, width: int, whole: bool = False):
        if whole and width > 16:
            raise ValueError("the whole-Δ form needs W ≤ 16 (one DSP)")
        self.width = width
        #: ``delta`` (``a + hi``, from the DSP's adder) instead of ``hi``
        self.whole = whole
        super().__init__({
            "a": In(width),
            "b": In(width),
            "r": In(16),
            "load": In(1),
            "fire": In(1),
            ("delta" if whole else "hi"): Out(width),
        })

    def elaborate(self, platform):
        m = Module()
        w = self.width
        if w <= 16 and fpga_family(platform) == "ecp5" and not self.whole:
            # b − a as b + ~a + 1 (the +1 through a constant low bit): ~a is the stored field
            # itself (on the ECP5 the store keeps ~a: param_store.complemented_field), so the
            # chain's inputs are the read register's outputs with no LUT in front (b − a as a
            # $sub kept the store's inverter as a LUT of its own, shared with the alter
            # stage's copy of a).
            diff = Signal(w + 1)
            prod = Signal(36)
            m.d.comb += [
                diff.eq(Cat(Const(1, 1), self.b) + Cat(Const(1, 1), ~self.a)),
                self.hi.eq(prod[16:16 + w]),
            ]
            d = diff[1:]
            m.submodules.mult = _ecp5_registered_mult(d, self.r, self.load, self.fire, prod)
            return m
        # No reset on the datapath registers: the DSP's pipeline registers have none (a sync
        # reset would keep yosys from absorbing them into SB_MAC16).
        if self.whole:
            # Δ = a + hi in the DSP's post-adder: r·d + a·2¹⁶ = r·(d − 1) + Cat(r, a), whose top
            # W bits are exactly (a + hi) mod 2^W. `ra1` holds r and a as one 32-bit register
            # (loaded on `load`): yosys's ice40_dsp pass takes a register into the SB_MAC16's
            # C/D input register only if the whole 32-bit addend is one flip-flop cell's
            # output (no constant bits: `Cat(0, a)` left a in 16 fabric flip-flops), and takes
            # r from the same cell into the A register. The output register holds with ~fire.
            # `dm1` = d − 1 = ~(a + ~b + 1): a and ~b are the store's fields as stored, so the
            # chain's inputs are the block RAM's outputs (the store's and this inversion of b
            # cancel), the +1 enters through a constant low bit, and the outer inversion is in
            # the chain's sum LUTs. `dm1` stays a fabric register (`keep`: yosys's ice40_dsp
            # pass then leaves it out of the SB_MAC16's B input register): the chain from the
            # block RAM ends in its own flip-flops (packed with the chain's cells, no logic
            # cell more), and the route into the DSP starts the next cycle, at a flip-flop,
            # through the DSP's combinational multiplier into its output register (worst seeds
            # 1–3: 13.8–14.5 ns with the chain into the DSP's input register).
            ra1 = Signal(16 + w, reset_less=True)
            dm1 = Signal(w, reset_less=True, attrs={"keep": 1})
            dsum = Signal(w + 1)
            m.d.comb += dsum.eq(Cat(Const(1, 1), self.a) + Cat(Const(1, 1), ~self.b))
            with m.If(self.load):
                m.d.sync += [ra1.eq(Cat(self.r, self.a)), dm1.eq(~dsum[1:])]
            # `keep` on `prod`: yosys's ice40_dsp pass still folds it into this DSP's output
            # register, and no longer also into the A input register of the DSP that reads
            # it (the iCE40 alter stage's: MacAlterStage). Without it the pass, taking the
            # register for both, left that input undefined and this multiplier out of the
            # netlist (yosys 0.70; tests/test_rtl_ice40_output.py simulates both DSPs).
            prod = Signal(16 + w, reset_less=True, attrs={"keep": 1})
            with m.If(self.fire):
                m.d.sync += prod.eq(ra1[:16] * dm1 + ra1)
            m.d.comb += self.delta.eq(prod[16:])
            return m
        r1 = Signal(16, reset_less=True)
        with m.If(self.load):
            m.d.sync += r1.eq(self.r)
        # b − a as b + ~a + 1 with the +1 entering through a constant low bit (one carry chain,
        # no carry-in logic). (The split form is what the proofs and simulations without a
        # platform check; on the iCE40 it is used only for W > 16.)
        d1 = Signal(w, reset_less=True)
        diff = Signal(w + 1)
        m.d.comb += diff.eq(Cat(Const(1, 1), self.b) + Cat(Const(1, 1), ~self.a))
        with m.If(self.load):
            m.d.sync += d1.eq(diff[1:])
        if w <= 16:
            prod = Signal(16 + w, reset_less=True)
            with m.If(self.fire):
                m.d.sync += prod.eq(r1 * d1)
            m.d.comb += self.hi.eq(prod[16:])
        else:
            # Two 16-bit-wide products, each with its own output register (one DSP tile each):
            # r·d = r·d_lo + (r·d_hi << 16), so (r·d) >> 16 = r·d_hi + ((r·d_lo) >> 16).
            p_lo = Signal(32, reset_less=True)
            p_hi = Signal(w, reset_less=True)
            with m.If(self.fire):
                m.d.sync += [p_lo.eq(r1 * d1[:16]), p_hi.eq(r1 * d1[16:])]
            m.d.comb += self.hi.eq(p_hi + p_lo[16:])
        return m


def _ecp5_registered_mult(a, b, ce_in, ce_out, p) -> Instance:
    """An ECP5 ``MULT18X18D``, unsigned: ``a`` (≤ 18 bits) and ``b`` (≤ 18 bits) into its input
    registers when ``ce_in`` (CE0), the 36-bit product into its output register when ``ce_out``
    (CE1); ``p`` shows the output register. No reset (as the fabric registers it replaces);
    GSR off."""
    ports = {
        "p_REG_INPUTA_CLK": "CLK0", "p_REG_INPUTA_CE": "CE0", "p_REG_INPUTA_RST": "RST0",
        "p_REG_INPUTB_CLK": "CLK0", "p_REG_INPUTB_CE": "CE0", "p_REG_INPUTB_RST": "RST0",
        "p_REG_OUTPUT_CLK": "CLK0", "p_REG_OUTPUT_CE": "CE1", "p_REG_OUTPUT_RST": "RST0",
        "p_GSR": "DISABLED", "p_RESETMODE": "SYNC",
        "i_SIGNEDA": Const(0, 1), "i_SIGNEDB": Const(0, 1),
        "i_SOURCEA": Const(0, 1), "i_SOURCEB": Const(0, 1),
        "i_CLK0": ClockSignal("sync"), "i_CE0": ce_in, "i_CE1": ce_out,
    }
    for k in (1, 2, 3):
        ports[f"i_CLK{k}"] = Const(0, 1)
    for k in (2, 3):
        ports[f"i_CE{k}"] = Const(0, 1)
    for k in range(4):
        ports[f"i_RST{k}"] = Const(0, 1)
    for k in range(18):
        ports[f"i_A{k}"] = a[k] if k < len(a) else Const(0, 1)
        ports[f"i_B{k}"] = b[k] if k < len(b) else Const(0, 1)
        ports[f"i_C{k}"] = Const(0, 1)
    for k in range(36):
        ports[f"o_P{k}"] = p[k]
    return Instance("MULT18X18D", **ports)
