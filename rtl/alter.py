"""The alter stage of SPEC §9: ``p[i] −= Δ``, ``p[j] += Δ`` as the words stream out."""

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AlterStage"]


class AlterStage(wiring.Component):
    """One add/subtract per word, in two halves: ``± a`` in the first cycle, ``± hi`` in the
    second (``Δ = a + hi``, see :class:`~dynamarks.rtl.delta.DeltaGen`).

    What it does
        For word ``k`` of a vector, with ``is_i = (k == i)``, ``hit = (k == j)`` (from the
        :class:`~dynamarks.rtl.sampler.Sampler`) and ``ok = well_formed & alpha < p_i < beta``:

        * ``is_i & ~hit & ok``  → ``p − Δ``   (the maximum gives Δ; ``~hit`` there means j ≠ i)
        * ``hit & ~is_i & ok``  → ``p + Δ``   (the receiver; j ≠ i since k ≠ i)
        * otherwise             → ``p``       (including ``j == i``: the vector is unchanged)

        On ``en`` it registers ``p``, ``q = p − a`` (``is_i``) or ``p + a`` (otherwise), and
        ``give = ok & is_i``, ``recv = ok & ~is_i``. In the next cycle ``hit`` (the sampler's
        register) and ``hi`` (held by the Δ generator) arrive, and
        ``out = change ? q ± hi : p`` with ``change = (give & ~hit) | (recv & hit)``: each
        cycle has one W-bit carry chain, fed by registers (``a`` and ``hi`` are registers).

    Interface
        ``en``, ``p``, ``a``, ``is_i``, ``ok`` in the cycle of ``en``; ``hit`` and ``hi`` in the
        following cycle; ``out``.

    Latency
        1 cycle: ``out`` (combinational from the registers, ``hit`` and ``hi``) is the result
        for the word of the last cycle with ``en``, and holds while ``en`` is low.

    Invariants
        Per vector, either no word changes or exactly two do, by ``−Δ`` at ``i`` and ``+Δ`` at
        ``j``: the sum is preserved. With a parameter set that passes SPEC §3.1 and a
        well-formed input, neither changed word wraps around (the top-1 safety condition); the
        intermediate ``q`` may, but the result is taken modulo 2^W as a whole.
    """

    def __init__(self, width: int):
        self.width = width
        super().__init__({
            "en": In(1),
            "p": In(width),
            "a": In(width),
            "is_i": In(1),
            "ok": In(1),
            "hit": In(1),
            "hi": In(width),
            "out": Out(width),
        })

    def elaborate(self, platform):
        m = Module()
        w = self.width
        p_r = Signal(w, reset_less=True)
        q = Signal(w, reset_less=True)
        give = Signal()
        recv = Signal()
        with m.If(self.en):
            m.d.sync += [
                p_r.eq(self.p),
                # p − a = p + ~a + 1: one carry chain with the operand chosen in front of it.
                q.eq((self.p + Mux(self.is_i, ~self.a, self.a) + self.is_i)[:w]),
                give.eq(self.ok & self.is_i),
                recv.eq(self.ok & ~self.is_i),
            ]
        sub = give & ~self.hit           # p − Δ = q − hi = q + ~hi + 1
        add = recv & self.hit            # p + Δ = q + hi
        total = Signal(w)
        m.d.comb += total.eq((q + Mux(sub, ~self.hi, self.hi) + sub)[:w])
        m.d.comb += self.out.eq(Mux(sub | add, total, p_r))
        return m
