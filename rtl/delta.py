"""Uniform Δ draw by multiply–shift (SPEC §7), on the FPGA's multiplier."""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

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
        and output registers absorbed (``SB_MAC16`` via ``synth_ice40 -dsp``; ``MULT18X18D``
        on ECP5). For W > 16 the product is split by hand into ``r·d_lo`` (16 × 16) and
        ``r·d_hi`` (16 × (W−16)), each registered at its own DSP's output, and
        ``hi = r·d_hi + (r·d_lo >> 16)`` (exact: ``r·d_hi << 16`` has no bits below 16).

    Interface
        ``a``, ``b`` (W bits), ``r`` (16 bits), ``load`` in; ``fire`` in; ``hi`` (W bits) out.

    Latency
        ``load`` in cycle t, ``fire`` in cycle t+1 or later: ``hi`` from the cycle after
        ``fire`` until the next ``fire``.

    Invariants
        ``0 ≤ hi ≤ b − a − 1`` whenever ``a < b`` (since ``r < 2¹⁶``), so ``a ≤ Δ < b``; the
        intermediate values cannot overflow (``r·d < 2¹⁶·2^(W−1)``).
    """

    def __init__(self, width: int):
        self.width = width
        super().__init__({
            "a": In(width),
            "b": In(width),
            "r": In(16),
            "load": In(1),
            "fire": In(1),
            "hi": Out(width),
        })

    def elaborate(self, platform):
        m = Module()
        w = self.width
        # No reset on the datapath registers: the DSP's pipeline registers have none (a sync
        # reset would keep yosys from absorbing them into SB_MAC16 / MULT18X18D).
        d1 = Signal(w, reset_less=True)
        r1 = Signal(16, reset_less=True)
        with m.If(self.load):
            m.d.sync += [d1.eq(self.b - self.a), r1.eq(self.r)]
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
