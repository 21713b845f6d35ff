"""The alter stage of SPEC §9: ``p[i] −= Δ``, ``p[j] += Δ`` as the words stream out."""

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AlterStage"]


class AlterStage(wiring.Component):
    """One add/subtract per word, decided in one cycle and done in the next.

    What it does
        For word ``k`` of a vector, with ``is_i = (k == i)``, ``hit = (k == j)`` (from the
        :class:`~dynamarks.rtl.sampler.Sampler`) and ``ok = well_formed & alpha < p_i < beta``:

        * ``is_i & ~hit & ok``  → ``p − Δ``   (the maximum gives Δ; ``~hit`` there means j ≠ i)
        * ``hit & ~is_i & ok``  → ``p + Δ``   (the receiver; j ≠ i since k ≠ i)
        * otherwise             → ``p``       (including ``j == i``: the vector is unchanged)

        On ``en`` it registers ``p``, ``give = ok & is_i`` and ``recv = ok & ~is_i``. In the
        next cycle ``hit`` (the sampler's register) and ``delta`` (the vector's Δ, held by the
        unit) arrive, and ``out = p + op + (give & ~hit)`` with
        ``op = Δ if hit & recv, ~Δ if ~hit & give, else 0``: one 4-input LUT per bit in front of
        a bare W-bit carry chain.

    Interface
        ``en``, ``p``, ``is_i``, ``ok`` in the cycle of ``en``; ``hit`` and ``delta`` in the
        following cycle; ``out``.

    Latency
        1 cycle: ``out`` (combinational from the registers and ``hit``) is the result for the
        word of the last cycle with ``en``, and holds while ``en`` is low.

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
        w = self.width
        p_r = Signal(w, reset_less=True)
        give = Signal()
        recv = Signal()
        with m.If(self.en):
            m.d.sync += [
                p_r.eq(self.p),
                give.eq(self.ok & self.is_i),
                recv.eq(self.ok & ~self.is_i),
            ]
        # give & ~hit: p + ~Δ + 1 = p − Δ;  recv & hit: p + Δ;  otherwise p + 0.
        operand = Signal(w)
        m.d.comb += operand.eq(Mux(self.hit & recv, self.delta,
                                   Mux(~self.hit & give, ~self.delta, 0)))
        m.d.comb += self.out.eq((p_r + operand + (give & ~self.hit))[:w])
        return m
