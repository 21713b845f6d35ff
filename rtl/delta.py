"""Uniform Δ draw by multiply–shift (SPEC §7), on the FPGA's multiplier."""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["DeltaGen"]


class DeltaGen(wiring.Component):
    """``delta = a + ((r · (b − a)) >> 16)`` in a 2-register pipeline.

    What it does
        Stage 1 registers ``d = b − a`` (W bits: ``1 ≤ d ≤ ONE`` for a valid set), ``a`` and
        ``r``. Stage 2 registers the product ``r · d`` (16 × W → 16+W bits). The output adds
        ``a`` to the product's top W bits. The product is written as a plain ``*`` between
        registers so that yosys maps it onto a DSP with its input and output registers
        absorbed (``SB_MAC16`` via ``synth_ice40 -dsp``; ``MULT18X18D`` on ECP5). For W > 16
        the product is split by hand into ``r·d_lo`` (16 × 16) and ``r·d_hi`` (16 × (W−16)),
        each registered at its own DSP's output, and ``delta = a + r·d_hi + (r·d_lo >> 16)``
        (exact: ``r·d_hi << 16`` has no bits below 16) — no unregistered DSP cascade.

    Interface
        ``a``, ``b`` (W bits), ``r`` (16 bits), ``valid`` in; ``delta`` (W bits), ``valid_out``.

    Latency
        2 cycles, fully pipelined: inputs at cycle t give ``delta`` during cycle t+2.
        ``delta`` is combinational from the product register (one W-bit adder): register it
        downstream (the unit writes it into its descriptor queue).

    Invariants
        ``a ≤ delta ≤ b − 1`` whenever ``a < b`` (since ``r < 2¹⁶``); the intermediate values
        cannot overflow (``r·d < 2¹⁶·2^(W−1)``).
    """

    def __init__(self, width: int):
        self.width = width
        super().__init__({
            "a": In(width),
            "b": In(width),
            "r": In(16),
            "valid": In(1),
            "delta": Out(width),
            "valid_out": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        w = self.width
        # No reset on the datapath registers: the DSP's pipeline registers have none (a sync
        # reset would keep yosys from absorbing them into SB_MAC16 / MULT18X18D).
        d1 = Signal(w, reset_less=True)
        r1 = Signal(16, reset_less=True)
        a1 = Signal(w, reset_less=True)
        v1 = Signal()
        a2 = Signal(w, reset_less=True)
        v2 = Signal()
        m.d.sync += [
            d1.eq(self.b - self.a), r1.eq(self.r), a1.eq(self.a), v1.eq(self.valid),
            a2.eq(a1), v2.eq(v1),
        ]
        if w <= 16:
            prod = Signal(16 + w, reset_less=True)
            m.d.sync += prod.eq(r1 * d1)
            m.d.comb += self.delta.eq(a2 + prod[16:])
        else:
            # Two 16-bit-wide products, each with its own output register (one DSP tile each):
            # r·d = r·d_lo + (r·d_hi << 16), so (r·d) >> 16 = r·d_hi + ((r·d_lo) >> 16).
            p_lo = Signal(32, reset_less=True)
            p_hi = Signal(w, reset_less=True)
            m.d.sync += [p_lo.eq(r1 * d1[:16]), p_hi.eq(r1 * d1[16:])]
            m.d.comb += self.delta.eq(a2 + p_hi + p_lo[16:])
        m.d.comb += self.valid_out.eq(v2)
        return m
