"""The alter stage of SPEC §9: ``p[i] −= Δ``, ``p[j] += Δ`` as the words stream out."""

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AlterStage", "MacAlterStage"]


class AlterStage(wiring.Component):
    """One add/subtract per word, in two halves: the word's role and ``p ± a`` in the first
    cycle, ``± hi`` in the second (``Δ = a + hi``, see :class:`~dynamarks.rtl.delta.DeltaGen`).

    What it does
        For word ``k`` of a vector, with ``is_i = (k == i)``, ``hit = (k == j)`` (from the
        :class:`~dynamarks.rtl.sampler.Sampler`) and ``ok = well_formed & alpha < p_i < beta``:

        * ``is_i & ~hit & ok``  → ``p − Δ``   (the maximum gives Δ; ``~hit`` there means j ≠ i)
        * ``hit & ~is_i & ok``  → ``p + Δ``   (the receiver; j ≠ i since k ≠ i)
        * otherwise             → ``p``       (including ``j == i``: the vector is unchanged)

        On ``en`` it registers ``moved = p − a`` (``is_i``) or ``p + a`` (always: the operand is
        chosen by ``is_i`` alone, one LUT in front of the carry chain), ``a`` itself,
        ``is_i`` and ``change = ok & (is_i ^ hit)``. In the next cycle ``hi`` (held by the Δ
        generator) arrives and one more chain finishes the word: ``moved ∓ hi`` where it
        changes (``(p − a) − hi`` at i, ``(p + a) + hi`` at j), ``moved ± a`` = ``p`` where it
        does not (the first cycle's ``± a`` undone). The second chain's operand
        (``~hi``, ``hi``, ``a`` or ``~a``) is one LUT of four registers per bit and its carry in
        (``+ 1`` for the two subtractions) a register, so each cycle has one W-bit carry chain
        between registers with one LUT in front of it, and no multiplexer after it (keeping
        ``a`` rather than ``p`` for the unchanged words saves the W-bit ``p``/``moved`` choice).

    Interface
        ``en``, ``p``, ``a``, ``is_i``, ``ok``, ``hit`` in the cycle of ``en``; ``hi`` in the
        following cycle; ``out``.

    Latency
        1 cycle: ``out`` (combinational from the registers and ``hi``) is the result for the
        word of the last cycle with ``en``, and holds while ``en`` is low.

    Invariants
        Per vector, either no word changes or exactly two do, by ``−Δ`` at ``i`` and ``+Δ`` at
        ``j``: the sum is preserved. With a parameter set that passes SPEC §3.1 and a
        well-formed input, neither changed word wraps around (the top-1 safety condition); the
        intermediate ``p ∓ a`` may, but the result is taken modulo 2^W as a whole.
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
        moved = Signal(w, reset_less=True)
        a_r = Signal(w, reset_less=True)
        is_i = Signal()
        change = Signal()
        carry_in = Signal()
        change_now = Signal()
        m.d.comb += change_now.eq(self.ok & (self.is_i ^ self.hit))
        with m.If(self.en):
            m.d.sync += [
                # p − a = p + ~a + 1: one carry chain with the operand chosen in front of it.
                moved.eq((self.p + Mux(self.is_i, ~self.a, self.a) + self.is_i)[:w]),
                a_r.eq(self.a),
                is_i.eq(self.is_i),
                change.eq(change_now),
                # + 1 for the subtractions: (p − a) − hi (change at i) and (p + a) − a (no
                # change, not i); (p + a) + hi and (p − a) + a need none.
                carry_in.eq(~(change_now ^ self.is_i)),
            ]
        # Per bit one LUT of (hi, a_r, change, is_i): ~hi, hi, a or ~a.
        operand = Mux(change, Mux(is_i, ~self.hi, self.hi), Mux(is_i, a_r, ~a_r))
        m.d.comb += self.out.eq((moved + operand + carry_in)[:w])
        return m


class MacAlterStage(wiring.Component):
    """The alter stage as one multiply–add, ``p + Δ·f`` with ``f ∈ {0, 1, −1}``, for a DSP
    whose output register is the pipeline's output register: the iCE40 form (``SB_MAC16``).

    What it does
        The same function as :class:`AlterStage` (``p − Δ`` at i, ``p + Δ`` at j, ``p``
        otherwise, under the same conditions). On ``en`` it registers ``p`` and the factor
        ``f = Cat(change, (change & is_i) × (W−1))`` with ``change = ok & (is_i ^ hit)``: 0
        (no change), 1 (change at j) or 2^W − 1 ≡ −1 (change at i). In the next cycle
        ``out = (Δ·f + p) mod 2^W``. Written as a plain ``*`` and ``+`` between registers so
        that yosys's ``ice40_dsp`` pass folds ``p``'s register into the DSP's C/D input
        register, the add into its post-adder and the register that ``out`` feeds (the skid
        buffer's ``word0``, loaded on its push) into its output register with ``OHOLD``: no
        carry chain and no LUT between Δ and the output register, and no route from the DSP
        column into the fabric on the way (the form before this one, ``x + Δ`` in a fabric
        chain and one LUT into ``word0``, was limited by exactly that route: 70.3–72.2 MHz on
        seeds 1–3, now 75.3–77.5, and 47 logic cells less). Δ arrives combinationally from
        the Δ generator's DSP output register into this DSP's A input (DSP to DSP in the same
        column); the factor's two distinct bits stay in fabric flip-flops.

    Interface
        ``en``, ``p``, ``is_i``, ``ok``, ``hit`` in the cycle of ``en``; ``delta`` in the
        following cycle; ``out``.

    Latency
        1 cycle, as :class:`AlterStage`: ``out`` (combinational from the registers and
        ``delta``) is the result for the word of the last cycle with ``en``, and holds while
        ``en`` is low.

    Invariants
        As :class:`AlterStage`: per vector no word changes or exactly two do, by ``−Δ`` at i
        and ``+Δ`` at j (results modulo 2^W).
    """

    def __init__(self, width: int):
        self.width = width
        super().__init__({
            "en": In(1),
            "p": In(width),
            "is_i": In(1),
            "ok": In(1),
            "hit": In(1),
            "delta": In(width),
            "out": Out(width),
        })

    def elaborate(self, platform):
        m = Module()
        w = self.width
        # No reset: the DSP's input registers have none that yosys would map.
        p = Signal(w, reset_less=True)
        f = Signal(w, reset_less=True)
        change = Signal()
        m.d.comb += change.eq(self.ok & (self.is_i ^ self.hit))
        with m.If(self.en):
            m.d.sync += [p.eq(self.p), f.eq(Cat(change, (change & self.is_i).replicate(w - 1)))]
        m.d.comb += self.out.eq((self.delta * f + p)[:w])
        return m
