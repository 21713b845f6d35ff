"""Categorical index draw over V_i (SPEC §8), one cumulative threshold per output word."""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Sampler"]


class Sampler(wiring.Component):
    """Flags the word ``k == j`` where ``j = #{k : C[i][k] ≤ u}``, as the words stream by.

    What it does
        The unit streams ``C[i][0], C[i][1], …`` alongside the words of the vector. For each
        the sampler registers ``lt_k = (u < C[i][k])`` and remembers ``lt_(k−1)`` (``lt_(−1) =
        0``: ``C[i][−1] = 0 ≤ u``). Then ``hit = lt_k & ~lt_(k−1)``, i.e.
        ``C[i][k−1] ≤ u < C[i][k]``. Because ``C[i]`` is nondecreasing, ``lt`` is monotone in
        ``k``, so ``hit`` is set exactly at ``k = min{k : u < C[i][k]} = #{k : C[i][k] ≤ u}``
        (the count form of SPEC §8, with no priority chain). ``C[i][N−1] = 65536 > u`` makes
        this happen once per vector. One 17-bit comparator.

        Knowing ``j == k`` word by word is enough for the alter stage: at the word ``k == i``,
        ``hit`` says whether ``j == i`` (so whether the vector is altered at all); at any other
        word it marks the receiver ``j``. Nothing needs ``j`` ahead of the words.

    Interface
        ``en`` (advance), ``first`` (word 0 of a vector), ``u`` (16 bits), ``c`` (17 bits) in;
        ``hit`` out.

    Latency
        1 cycle: ``hit`` for the word presented with ``en`` is valid the next cycle and holds
        while ``en`` is low (pipeline stall).

    Invariants
        Over the N words of a vector with a valid ``C[i]`` (nondecreasing, last = 65536),
        exactly one ``hit``, at ``j``.
    """

    def __init__(self):
        super().__init__({
            "en": In(1),
            "first": In(1),
            "u": In(16),
            "c": In(17),
            "hit": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lt = Signal()
        lt_prev = Signal()
        with m.If(self.en):
            m.d.sync += [lt.eq(self.u < self.c), lt_prev.eq(~self.first & lt)]
        m.d.comb += self.hit.eq(lt & ~lt_prev)
        return m
