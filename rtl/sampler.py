"""Categorical index draw over V_i (SPEC §8), one cumulative threshold per output word."""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Sampler"]


class Sampler(wiring.Component):
    """Flags the word ``k == j`` where ``j = #{k : C[i][k] ≤ u}``, as the words stream by.

    What it does
        The unit streams ``C[i][0], C[i][1], …`` alongside the words of the vector. For word
        ``k`` the sampler registers ``hit_k = lt_k & (first | ~lt_(k−1))`` with
        ``lt_k = (u < C[i][k])`` (``lt_(−1) = 0``: ``C[i][−1] = 0 ≤ u``), i.e.
        ``C[i][k−1] ≤ u < C[i][k]``, and keeps ``lt_k`` for the next word. Because ``C[i]`` is
        nondecreasing, ``lt`` is monotone in ``k``, so ``hit`` is set exactly at
        ``k = min{k : u < C[i][k]} = #{k : C[i][k] ≤ u}`` (the count form of SPEC §8, with no
        priority chain). ``C[i][N−1] = 65536 > u`` makes this happen once per vector.
        One 17-bit comparator (a carry chain into a flip-flop) and two flip-flops.

        Knowing ``j == k`` word by word is enough for the alter stage: at the word ``k == i``,
        ``hit`` says whether ``j == i`` (so whether the vector is altered at all); at any other
        word it marks the receiver ``j``. Nothing needs ``j`` ahead of the words.

    Interface
        ``en`` (this word is consumed), ``first`` (word 0 of a vector), ``u`` (16 bits), ``c``
        (17 bits) in; ``hit`` out; ``hit_now``: the value ``hit`` takes at this ``en``
        (combinational, for a consumer that registers its own decision).

    Latency
        1 cycle: ``hit`` (a register) is valid the cycle after ``en`` and holds while ``en``
        is low.

    Invariants
        Over the N words of a vector with a valid ``C[i]`` (nondecreasing, last = 65536),
        exactly one word has ``hit``, word ``j``.
    """

    def __init__(self):
        super().__init__({
            "en": In(1),
            "first": In(1),
            "u": In(16),
            "c": In(17),
            "hit": Out(1),
            "hit_now": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lt = Signal()
        lt_now = Signal()
        m.d.comb += [lt_now.eq(self.u < self.c),
                     self.hit_now.eq(lt_now & (self.first | ~lt))]
        with m.If(self.en):
            m.d.sync += [lt.eq(lt_now), self.hit.eq(self.hit_now)]
        return m
