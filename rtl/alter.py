"""The alter stage of SPEC §9: ``p[i] −= Δ``, ``p[j] += Δ`` as the words stream out."""

from amaranth import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AlterStage"]


class AlterStage(wiring.Component):
    """One registered add/subtract per word.

    What it does
        For word ``k`` of a vector, with ``is_i = (k == i)``, ``hit = (k == j)`` (from the
        :class:`~dynamarks.rtl.sampler.Sampler`) and ``ok = well_formed & alpha < p_i < beta``:

        * ``is_i & ~hit & ok``  → ``p − Δ``   (the maximum gives Δ; ``~hit`` there means j ≠ i)
        * ``hit & ~is_i & ok``  → ``p + Δ``   (the receiver; j ≠ i since k ≠ i)
        * otherwise             → ``p``       (including ``j == i``: the vector is unchanged)

        One W-bit adder with the subtrahend selected by XOR and carry-in.

    Interface
        ``en``, ``p``, ``is_i``, ``hit``, ``ok``, ``delta`` in; ``out`` (a register).

    Latency
        1 cycle; ``out`` holds while ``en`` is low.

    Invariants
        Per vector, either no word changes or exactly two do, by ``−Δ`` at ``i`` and ``+Δ`` at
        ``j``: the sum is preserved. With a parameter set that passes SPEC §3.1 and a
        well-formed input, neither changed word wraps around (the top-1 safety condition).
    """

    def __init__(self, width: int):
        self.width = width
        super().__init__({
            "en": In(1),
            "p": In(width),
            "is_i": In(1),
            "hit": In(1),
            "ok": In(1),
            "delta": In(width),
            "out": Out(width),
        })

    def elaborate(self, platform):
        m = Module()
        sub = self.ok & self.is_i & ~self.hit
        add = self.ok & self.hit & ~self.is_i
        operand = Mux(sub | add, self.delta, 0)
        with m.If(self.en):
            # p + (operand ^ mask) + sub  ==  p − operand (sub) or p + operand (add) mod 2^W
            m.d.sync += self.out.eq(
                (self.p + (operand ^ Mux(sub, (1 << self.width) - 1, 0)) + sub)[:self.width])
        return m
