"""Categorical index draw over V_i (SPEC §8), one cumulative threshold per output word."""

from amaranth import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .param_store import c_table_by_index

__all__ = ["Sampler"]


class Sampler(wiring.Component):
    """Flags the word ``k == j`` where ``j = #{k : C[i][k] ≤ u}``, as the words stream by.

    What it does
        The unit streams ``C[i][0], C[i][1], …`` alongside the words of the vector. A two-stage
        pipeline (both stages advance on ``en``):

        * S1: ``lt_k = (u < C[i][k])`` is computed straight from the threshold (the C table's
          block RAM output) and registered. Word 0 compares with ``u_head`` (the keystream
          word on offer, taken in this cycle), the other words with ``u`` (its held copy):
          two carry chains, one per source of ``u``, so that neither has a LUT in front of it
          (the keystream word and the block RAM output meet nothing but the chain), each
          ``u + ~C + 1`` (carry ``u ≥ C``; the ``+ 1`` a constant low bit; ``~C`` is what the
          block RAM holds, see :class:`~dynamarks.rtl.param_store.ParamStore`) with one more
          bit on top (0 + 1) whose sum bit ``¬carry = lt`` is a LUT in the chain's last cell,
          which its flip-flop (``lt0``, ``lt``) packs with.
        * S2: ``hit_now = lt_k & (first | ~lt_(k−1))`` (``lt_(−1) = 0``: ``C[i][−1] = 0 ≤ u``),
          i.e. ``C[i][k−1] ≤ u < C[i][k]`` — one LUT from registers (``first2 ? lt0 :
          lt & ge_prev``). ``ge_prev = ¬lt`` of the word leaving S2 is kept for the next
          word.

        Because ``C[i]`` is nondecreasing, ``lt`` is monotone in ``k``, so ``hit`` is set
        exactly at ``k = min{k : u < C[i][k]} = #{k : C[i][k] ≤ u}`` (the count form of SPEC
        §8, with no priority chain). ``C[i][N−1] = 65536 > u`` makes this happen once per
        vector.

        Organised by word index (the ECP5's C table, see
        :func:`~dynamarks.rtl.param_store.c_table_by_index`; ``by_index`` forces it), S1
        compares the whole registered row ``C[0…N−1][k]`` (``c_row``) with ``u``, one chain
        per class (``u`` chosen by ``first`` in one LUT in front of them), into N ``ge``
        registers, and S2 picks the class's bit (``cls``, registered with them) in front of
        one LUT: ``hit_now = ¬ge & open``, where the register ``open``
        (``first2 | ge_prev``) is set as the word enters S2. No class multiplexer sits
        between the table's LUT RAM and a register or in front of a carry chain, and the
        S2 logic in front of the alter stage is the multiplexer and that LUT.

        Knowing ``j == k`` word by word is enough for the alter stage: at the word ``k == i``,
        ``hit`` says whether ``j == i`` (so whether the vector is altered at all); at any other
        word it marks the receiver ``j``. Nothing needs ``j`` ahead of the words.

    Interface
        ``en`` (the pipeline advances), ``first`` (the word entering S1 is word 0 of a
        vector), ``u_head`` (16 bits, used with ``first``), ``u`` (16 bits, held for the
        vector's other words), ``c`` (17 bits) in — by word index ``c_row`` (N × 17 bits)
        and ``cls`` (the class) instead of ``c`` —, all for the word entering S1; ``hit_now``
        (combinational): the word in S2 is word ``j``; ``hit``: ``hit_now`` registered at
        the last ``en``.

    Latency
        A word entering S1 at an ``en`` is in S2 after it: its ``hit_now`` is valid from then
        until the next ``en``; ``hit`` one ``en`` later. Bubbles (words that are not valid) may
        pass: ``first`` of the next vector's word 0 makes the previous ``lt`` irrelevant.

    Invariants
        Over the N words of a vector with a valid ``C[i]`` (nondecreasing, last = 65536),
        exactly one word has ``hit_now``, word ``j``.
    """

    def __init__(self, classes: int = 2, *, by_index: bool | None = None):
        self.classes = classes
        #: compare a whole row (see the class docstring); None = by the platform
        self.by_index = by_index
        super().__init__({
            "en": In(1),
            "first": In(1),
            "u_head": In(16),
            "u": In(16),
            "c": In(17),
            "c_row": In(data.ArrayLayout(unsigned(17), classes)),
            "cls": In(range(classes)),
            "hit": Out(1),
            "hit_now": Out(1),
        })

    @staticmethod
    def _ge(c, u_n):
        """``u ≥ c`` as the sum bit on top of one carry chain (see the class docstring)."""
        return (Cat(c, Const(0, 1)) + Cat(u_n, Const(1, 1)))[17]

    @staticmethod
    def _lt(c, u):
        """``u < c`` as the sum bit on top of one carry chain ``u + ~c + 1`` (carry: ``u ≥ c``;
        the + 1 enters as a constant low bit), with ``~c`` (17 bits) and ``u`` straight into
        the chain (see the class docstring)."""
        one, zero = Const(1, 1), Const(0, 1)
        return (Cat(one, u, zero, zero) + Cat(one, ~c, one))[18]

    def elaborate(self, platform):
        m = Module()
        by_index = (self.by_index if self.by_index is not None
                    else c_table_by_index(platform))
        with m.If(self.en):
            m.d.sync += self.hit.eq(self.hit_now)
        if by_index:
            u_n = Signal(17)        # ~u, 17 bits (u zero-extended)
            m.d.comb += u_n.eq(Cat(Mux(self.first, ~self.u_head, ~self.u), Const(1, 1)))
            # S1: every class's entry of the row against u, one chain each; S2: the class's
            # bit (a multiplexer of registers).
            n = self.classes
            ge_row = Signal(n)  # S2: u ≥ C[r][k] for every class r
            cls2 = Signal(range(n))
            open_ = Signal()    # S2: the word is word 0, or u ≥ C[i][k−1] (first2 | ge_prev)
            ge = Signal()       # u ≥ C[i][k] of the word in S2 (¬lt)
            m.d.comb += [ge.eq(ge_row.bit_select(cls2, 1)), self.hit_now.eq(~ge & open_)]
            with m.If(self.en):
                m.d.sync += [
                    ge_row.eq(Cat(self._ge(self.c_row[r], u_n) for r in range(n))),
                    cls2.eq(self.cls),
                    open_.eq(self.first | ge),
                ]
        else:
            # Two chains, one per source of u, so that neither has a LUT in front of it: the
            # keystream word on offer (word 0) and its held copy (the other words), each
            # against C straight from the block RAM (~C there: the store keeps C
            # complemented, see ParamStore); S2 picks the right register.
            first2 = Signal()   # S2: the word in S2 is word 0
            lt0 = Signal()      # u_head < C[i][k] (meaningful for word 0)
            lt = Signal()       # u < C[i][k] (meaningful for the other words)
            ge_prev = Signal()  # u ≥ C[i][k−1] of the word before it
            m.d.comb += self.hit_now.eq(Mux(first2, lt0, lt & ge_prev))
            with m.If(self.en):
                m.d.sync += [
                    lt0.eq(self._lt(self.c, self.u_head)),
                    lt.eq(self._lt(self.c, self.u)),
                    first2.eq(self.first),
                    ge_prev.eq(~Mux(first2, lt0, lt)),
                ]
        return m
