"""Proof harnesses for the watermark unit: what :mod:`dynamarks.rtl.formal` runs.

Every harness drives :class:`dynamarks.rtl.unit.WatermarkUnit` through its ports (``sink`` /
``source`` streams, the ``config`` port, counters) with free inputs (``AnySeq``) and free
parameters (``AnyConst``), so the proofs hold for every input sequence and, where stated, for
every parameter set that passes SPEC §3.1. Beyond the ports they read only the strobes of the
unit's observation interface ``unit.probe`` (``vector_done``, ``word_out``, …) and, for the
two-copy induction, register bits found by the taint analysis below.

Jobs (:func:`jobs`), on a unit of N classes and W bits (default N = 3, W = 10):

``unit_vectors`` (bmc; a b c d e)
    The harness writes a free parameter table through the config port — SPEC §3.1 validation
    is an assumption on the written (stored) values — then streams free vectors (any word
    values; framing well formed) back to back, with the output always ready. The unit is built
    with ``external_keystream=True`` and the harness offers free 32-bit keystream words, so
    every Δ and j draw is covered. A scoreboard (a FIFO of the accepted input vectors) checks
    every vector that comes out: (a) output sum == input sum, exact; (b) output argmax ==
    input argmax (ties → lowest index); (c) each changed word is either the argmax word,
    strictly decreased, or a non-argmax word, strictly increased — with (a) in full-width
    arithmetic no word can wrap around; (d) a vector that is not well formed or whose maximum
    is outside its class's window comes out unchanged; (e, data side) at most two words
    change; and vectors come out whole, in order, one per accepted vector, first/last on words
    0 and N−1. Stronger per word (this job only, the output never stalls): a changed word
    is exactly ``p − Δ`` (argmax) or ``p + Δ`` (other), in full width, with ``Δ = a[i] + hi``
    and ``hi`` the :class:`FreeDeltaGen` value of its vector; and per vector, either no word
    changed or the argmax word and exactly one other. The whole-vector checks are made on
    registered copies one cycle (b d e, the pairing) and two cycles (a) after the last word:
    smtbmc assumes what it has proven at earlier steps, so the sum check is arithmetic on
    proven per-word facts instead of one SAT problem through the whole datapath (> 15 min per
    step with the Δ split ``(p ± a) ± hi``; ~2 min for the job now). Bounded: the depth covers
    the table writes, three whole vectors in and out and the two delayed cycles;
    ``unit_vectors_cover`` shows that this depth does reach a third *altered* vector at the
    output and its last delayed check (so the bound is not vacuous).

``unit_backpressure``, ``unit_gaps`` (bmc; a b c d e; ``make formal`` only)
    The same scoreboard with ``source.ready`` free (back-pressure at any cycle; vectors in
    back to back), and with ``sink.valid`` free (idle cycles between any words; output always
    ready), to the depth of one whole vector through the unit (every stall pattern up to that
    cycle). Slower: the solver explores every stall pattern; three vectors did not finish in
    the 10 minutes tried, nor did both handshakes free at once at N = 2 in 20 minutes.

``delta_range`` (prove)
    The real Δ generator with free inputs and free ``load``/``fire`` strobes: from the cycle
    after a ``fire`` until the next, ``0 ≤ hi < b − a`` (W bits) for the ``a``, ``b`` of the
    last ``load`` before that ``fire``, for every ``r`` and every ``a < b ≤ ONE``; i.e.
    ``a ≤ Δ = a + hi < b``. **Assumption discharged here:** the scoreboard jobs build the
    unit with :class:`FreeDeltaGen` in its place — ``hi`` a free value chosen at ``fire`` and
    *assumed* ``< b − a`` of the last ``load`` (same signal, bounds, width and timing as this
    lemma): assume–guarantee, which keeps the multiplier out of the unit-level proofs. Every
    property those jobs prove of the unit with the stand-in thus holds with the real block.

``unit_induction`` (prove, k-induction, k = 2; a b c d; ``make formal`` only)
    **Unbounded**: for every input sequence — free words, a free ``sink.valid`` (idle cycles
    between any words, or none), the output always ready — every vector the unit sends
    satisfies (a) sum, (b) argmax, (c) no wrap (each changed word moves by Δ ∈ [a, b), in
    full width), (d) window, and at most two words change. One vector, chosen
    nondeterministically, is tracked through the unit; the invariants that make this
    inductive and the stand-ins it uses (free valid table, free Δ, free keystream) are in
    :mod:`dynamarks.rtl.formal_induction`, with the lemmas that discharge them:
    ``expected_words`` (the arithmetic of SPEC §9, for every value), ``param_store_reads``
    (the store returns what was written) and ``delta_range`` (below). The invariants already
    cover back-pressure (the skid buffer, stalled stages): ``unit_induction_backpressure``
    (k = 2, a free ``source.ready`` with back-to-back input) is proved too (708 s on the 2-core
    machine, ``make formal``); ``unit_induction_free`` (both handshakes free; optional, ``--only``)
    is not closed yet, so gaps *and* back-pressure together stay covered by ``unit_gaps`` and
    ``unit_backpressure`` (bounded).

``unit_secrets`` (prove; e)
    Two units (real Trivium each) get the same stream inputs, handshakes, resets and config
    strobes/addresses, but independent free config *data* — everything secret: key, IV,
    windows, Δ ranges, thresholds. k-induction proves that on every cycle both agree on
    ``sink.ready``, ``source.valid``, ``source.first``/``last``, ``config.running``,
    ``config.locked``, ``vectors_in``, ``vectors_out`` and ``rejected``, and on the internal
    strobes ``vector_done`` (keystream consumption), ``vector_dropped``, ``word_in``,
    ``word_out``, ``vector_sent``: timing, keystream consumption and counters are independent
    of the secrets, for any input, including malformed framing and resets. The induction is
    strengthened automatically: a bit-level taint analysis of the elaborated unit
    (:func:`registers_and_taint`) finds the register bits whose value cannot depend on config
    data or memory contents, and the harness asserts those equal as well.

``trivium_timing`` (prove; e)
    The same argument on the Trivium block alone (16 clocks per cycle), free key/IV words:
    ``running`` and the keystream handshake do not depend on the key.

Why the small sizes generalise: the unit is one parametric design (rtl/unit.py) whose control
(framing FSM, counters, buffer pointers, descriptor queue, output sequencer) has the same
structure for every N and W, and whose datapath checks — streaming argmax and sum, a per-class
table read, window compare, multiply–shift, compare with C, add/subtract — are per word or
per vector, with no N- or W-specific case. W = 10 is the smallest width SPEC allows (the
tightest margins); N = 3 is the smallest N with a word that is neither i nor j, so every role
a word can have (i, j, untouched) occurs. The top-1
safety inequality of §3.1 is assumed exactly as the host validates it. The two cheap
unbounded proofs also run at the default size (``unit_secrets_n10w16``, ``delta_range_w16``),
and the cocotb benches check N = 10, W = 16 bit for bit against the reference model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from unittest import mock

from amaranth import Array, Const, Elaboratable, Module, Mux, ResetSignal, Signal
from amaranth.hdl import Assert, Assume, Cover, Fragment
from amaranth.hdl._ast import (
    AnyConst,
    AnySeq,
    Assign,
    Concat,
    Operator,
    Slice,
    Switch,
    SwitchValue,
)

from dynamarks.rtl.delta import DeltaGen
from dynamarks.rtl.formal import Job

#: Sizes the proofs run at (see the module docstring for why they generalise).
CLASSES, WIDTH = 3, 10
C_ONE = 1 << 16
C_BITS = 17


def elaborate_unit(classes: int, width: int, external_keystream: bool, unit_cls=None,
                   free_delta: bool = False):
    """(unit, fragment): the unit elaborated once, so that a harness can read its internals.

    ``external_keystream`` builds the unit without its Trivium; the keystream is then an input
    stream the harness drives. ``free_delta`` replaces its :class:`DeltaGen` by
    :class:`FreeDeltaGen` (see there). ``unit_cls`` (default :class:`WatermarkUnit`) lets the
    tests prove deliberately broken variants.
    """
    import dynamarks.rtl.sequencer as sequencer_module
    import dynamarks.rtl.unit as unit_module

    cls = unit_cls or unit_module.WatermarkUnit
    made: list[FreeDeltaGen] = []

    class _Recorded(FreeDeltaGen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    patch = (mock.patch.object(sequencer_module, "DeltaGen", _Recorded) if free_delta
             else contextlib.nullcontext())
    with patch:
        unit = cls(classes=classes, width=width, external_keystream=external_keystream)
        frag = Fragment.get(unit, None)
    #: the stand-ins built into this unit (one; empty without ``free_delta``)
    unit.formal_delta_gens = made
    return unit, frag


class FreeDeltaGen(DeltaGen):
    """:class:`DeltaGen` with its result replaced by a free value in ``[0, b − a)``.

    Same ports and timing (``load`` registers the inputs, ``fire`` the result, which holds
    until the next ``fire``); ``hi`` is ``AnySeq`` chosen at ``fire`` and constrained to
    ``0 ≤ hi < b − a`` of the inputs at the last ``load`` — so ``Δ = a + hi`` lies in
    ``[a, b)``, exactly what ``delta_range`` proves of the real block: a property proven with
    this stand-in holds with the real one (assume–guarantee); it keeps the multiplier out of
    the unit-level proof, where SAT solvers are slow to reason about products.
    """

    def elaborate(self, platform):
        m = Module()
        w = self.width
        d1 = Signal(w)
        held = Signal(w)
        free = Signal(w)
        #: the value ``hi`` takes at a ``fire`` (for harnesses that record it)
        self.free_value = free
        with m.If(self.load):
            m.d.sync += d1.eq(self.b - self.a)
        m.d.comb += free.eq(AnySeq(w))
        with m.If(self.fire):
            m.d.sync += held.eq(free)
            m.d.comb += Assume(free < d1)
        m.d.comb += self.hi.eq(held)
        return m


def table_entries(classes: int) -> list[tuple[int, str, int]]:
    """``(config address, field, class)`` of every table entry (fields alpha, beta, a, b, C0…)."""
    from dynamarks.rtl.param_store import SPACE_C, SPACE_WINDOW, config_address

    out = []
    for i in range(classes):
        for f, name in enumerate(("alpha", "beta", "a", "b")):
            out.append((config_address(classes, SPACE_WINDOW, i, f), name, i))
        for k in range(classes):
            out.append((config_address(classes, SPACE_C, i, k), f"C{k}", i))
    return out


# ---------------------------------------------------------------------------------------------
# Taint analysis on the elaborated design (strengthening for the two-copy induction)


def _walk(frag: Fragment, out: list[Fragment]) -> None:
    out.append(frag)
    for sub, _name, _loc in frag.subfragments:
        _walk(sub, out)


# Bit-level: an "atom" is (id(signal), bit). A value's dependencies are a list, one frozenset
# of atoms per bit. Wiring (slices, concatenation, bitwise logic, multiplexers) is tracked bit
# by bit; arithmetic and anything else makes every result bit depend on every operand bit.

_BITWISE = {"&", "|", "^", "~", "u", "s"}


def _coarse(value) -> frozenset:
    return frozenset((id(sig), k) for sig in value._rhs_signals() for k in range(len(sig)))


def _fit(bits: list, width: int) -> list:
    if len(bits) >= width:
        return bits[:width]
    return bits + [bits[-1] if bits else frozenset()] * (width - len(bits))


def _bits(value) -> list:
    """Per-bit dependency sets of an Amaranth value."""
    width = len(value)
    if isinstance(value, Const):
        return [frozenset()] * width
    if isinstance(value, Signal):
        return [frozenset({(id(value), k)}) for k in range(width)]
    if isinstance(value, Slice):
        return _bits(value.value)[value.start:value.stop]
    if isinstance(value, Concat):
        out = []
        for part in value.parts:
            out += _bits(part)
        return out
    if isinstance(value, SwitchValue):
        sel = _coarse(value.test)
        out = [sel] * width
        for _patterns, case in value.cases:
            if case is not None:
                out = [o | c for o, c in zip(out, _fit(_bits(case), width), strict=True)]
        return out
    if isinstance(value, Operator) and value.operator in _BITWISE:
        out = [frozenset()] * width
        for op in value.operands:
            out = [o | c for o, c in zip(out, _fit(_bits(op), width), strict=True)]
        return out
    return [_coarse(value)] * width


def _lhs_bits(lhs) -> tuple[list, frozenset]:
    """(the atom each bit of ``lhs`` writes — or a set of atoms it may write —, index deps)."""
    if isinstance(lhs, Signal):
        return [frozenset({(id(lhs), k)}) for k in range(len(lhs))], frozenset()
    if isinstance(lhs, Slice):
        bits, extra = _lhs_bits(lhs.value)
        return bits[lhs.start:lhs.stop], extra
    if isinstance(lhs, Concat):
        out, extra = [], frozenset()
        for part in lhs.parts:
            b, e = _lhs_bits(part)
            out += b
            extra |= e
        return out, extra
    # Part, ArrayProxy, …: any bit of any target signal, chosen by the index signals.
    targets = frozenset((id(sig), k) for sig in lhs._lhs_signals() for k in range(len(sig)))
    return [targets] * len(lhs), _coarse(lhs) - targets


def _stmt_deps(stmts: Iterable, ctx: frozenset, deps: dict) -> None:
    """``deps[atom] |= atoms it is computed from``, through data and control (If/Switch)."""
    for s in stmts:
        if isinstance(s, Assign):
            rhs = _fit(_bits(s.rhs), len(s.lhs))
            targets, extra = _lhs_bits(s.lhs)
            for tgt, src in zip(targets, rhs, strict=True):
                for atom in tgt:
                    deps.setdefault(atom, set()).update(src | extra | ctx)
        elif isinstance(s, Switch):
            inner = ctx | _coarse(s.test)
            for _patterns, body, _loc in s.cases:
                _stmt_deps(body, inner, deps)


def registers_and_taint(frag: Fragment, sources: Iterable[Signal]):
    """``(registers, tainted)`` of an elaborated design.

    ``registers`` lists, in a stable order, the signals assigned in a clocked domain.
    ``tainted`` holds the atoms ``(id(signal), bit)`` whose value can depend on a source or on
    the contents of a memory (memory read data are sources: contents are state the harness
    cannot compare), through data or an enclosing ``If``/``Switch`` condition (implicit flow),
    to a fixed point. An untainted register bit is a function of the shared inputs and other
    untainted register bits only, so asserting those equal in two copies is inductive.
    """
    frags: list[Fragment] = []
    _walk(frag, frags)
    deps: dict = {}
    regs: list[Signal] = []
    seen: set[int] = set()
    tainted = {(id(sig), k) for src in sources for sig in src._rhs_signals()
               for k in range(len(sig))}
    for f in frags:
        for domain, stmts in f.statements.items():
            _stmt_deps(stmts, frozenset(), deps)
            if domain != "comb":
                for stmt in stmts:
                    for sig in stmt._lhs_signals():
                        if id(sig) not in seen:
                            seen.add(id(sig))
                            regs.append(sig)
        for rp in getattr(f, "_read_ports", []):
            tainted |= _coarse(rp._data)
    changed = True
    while changed:
        changed = False
        for atom, d in deps.items():
            if atom not in tainted and not d.isdisjoint(tainted):
                tainted.add(atom)
                changed = True
    return regs, tainted


def assert_untainted_equal(m: Module, fa: Fragment, fb: Fragment, src_a, src_b) -> int:
    """Assert every untainted register bit of copy A equal to its twin in copy B; return the
    number of bits asserted."""
    regs_a, taint_a = registers_and_taint(fa, src_a)
    regs_b, _ = registers_and_taint(fb, src_b)
    if len(regs_a) != len(regs_b):
        raise RuntimeError("the two copies elaborated differently")
    count = 0
    for ra, rb in zip(regs_a, regs_b, strict=True):
        if ra.name != rb.name or len(ra) != len(rb):
            raise RuntimeError(f"register mismatch {ra!r} / {rb!r}")
        bits = [k for k in range(len(ra)) if (id(ra), k) not in taint_a]
        if len(bits) == len(ra):
            m.d.comb += Assert(ra == rb)
        else:
            m.d.comb += [Assert(ra[k] == rb[k]) for k in bits]
        count += len(bits)
    return count


# ---------------------------------------------------------------------------------------------
# Parameter validity (SPEC §3.1) over the stored table entries


def valid_params(tab: dict, classes: int, width: int) -> list:
    """Conditions for the stored table (``tab[(field, class)]``) to pass SPEC §3.1."""
    one = 1 << (width - 1)
    out = []
    for i in range(classes):
        alpha, b, a = tab["alpha", i], tab["b", i], tab["a", i]
        # b > a, b ≤ ONE; alpha, beta < 2**W by their stored width; top-1 safety
        # 2·(alpha + 1 − (b − 1)) > ONE, written without underflow: 2·alpha + 4 > ONE + 2·b.
        out += [b > a, b <= one, (alpha * 2 + 4) > (b * 2 + one)]
        for k in range(classes):
            out.append(tab[f"C{k}", i] <= C_ONE)
            if k:
                out.append(tab[f"C{k - 1}", i] <= tab[f"C{k}", i])
        out.append(tab[f"C{classes - 1}", i] == C_ONE)
    return out


def _argmax(words: list) -> tuple:
    """(index, value) of the maximum, ties to the lowest index (SPEC §4), as expressions."""
    idx, best = Const(0, range(len(words))), words[0]
    for k in range(1, len(words)):
        better = words[k] > best
        idx = Mux(better, k, idx)
        best = Mux(better, words[k], best)
    return idx, best


# ---------------------------------------------------------------------------------------------
# Harness 1: scoreboard of whole vectors


class VectorHarness(Elaboratable):
    """One unit and a scoreboard (``unit_vectors`` in the module docstring)."""

    def __init__(self, classes: int = CLASSES, width: int = WIDTH, fifo_depth: int | None = None,
                 cover_vectors: int = 0, unit_cls=None,
                 handshakes: tuple[str, ...] = ("sink", "source")):
        self.n, self.w, self.depth = classes, width, fifo_depth
        self.handshakes = handshakes  # which of sink.valid / source.ready are free
        self.cover_vectors = cover_vectors
        self.unit_cls = unit_cls
        # the per-word Δ check needs the output never stalled (see elaborate)
        self.delta_lemma = handshakes == ()

    def elaborate(self, platform):
        m = Module()
        n, w = self.n, self.w
        one = 1 << (w - 1)
        unit, frag = elaborate_unit(n, w, external_keystream=True, unit_cls=self.unit_cls,
                                    free_delta=True)
        if self.depth is None:  # vectors accepted and not yet handed over, at most
            self.depth = unit.vectors_in_flight
        m.submodules.unit = frag
        m.d.comb += Assume(~ResetSignal())

        # -- configuration: write a free, valid table, one entry per cycle --------------------
        entries = table_entries(n)
        tab = {}
        for _addr, fld, i in entries:
            tab[fld, i] = AnyConst(C_BITS if fld.startswith("C") else w)
        for cond in valid_params(tab, n, w):
            m.d.comb += Assume(cond)
        t = Signal(range(len(entries) + 1))
        configured = t == len(entries)
        with m.If(~configured):
            m.d.sync += t.eq(t + 1)
        cfg = unit.config
        m.d.comb += [
            cfg.we.eq(~configured), cfg.start.eq(0),
            cfg.addr.eq(Array(Const(a, len(cfg.addr)) for a, _f, _i in entries)[t]),
            cfg.data.eq(Array(tab[f, i] for _a, f, i in entries)[t]),
            cfg.lock.eq(configured & AnySeq(1)),
        ]
        def free(which: str):
            return AnySeq(1) if which in self.handshakes else Const(1, 1)

        # Always a keystream word on offer, as from the real Trivium (its word is ready in
        # 32/bits ≤ N cycles, i.e. before the next vector can end); its value is free.
        m.d.comb += [unit.keystream.valid.eq(1), unit.keystream.payload.eq(AnySeq(32))]

        # -- input side: free words, free valid, well-formed framing ------------------------
        sink, source = unit.sink, unit.source
        ipos = Signal(range(n))
        m.d.comb += [
            sink.valid.eq(configured & free("sink")), sink.payload.data.eq(AnySeq(w)),
            sink.payload.first.eq(ipos == 0), sink.payload.last.eq(ipos == n - 1),
            source.ready.eq(free("source")),
        ]
        cur = [Signal(w, name=f"in_w{k}") for k in range(n)]
        fifo = [[Signal(w, name=f"q{d}_w{k}") for k in range(n)] for d in range(self.depth)]
        fill = Signal(range(self.depth + 1))
        push, pop = Signal(), Signal()
        with m.If(sink.valid & sink.ready):
            m.d.sync += ipos.eq(Mux(ipos == n - 1, 0, ipos + 1))
            m.d.sync += Array(cur)[ipos].eq(sink.payload.data)
            m.d.comb += push.eq(ipos == n - 1)
        incoming = [*cur[:n - 1], sink.payload.data]
        m.d.comb += Assert(~(push & (fill == self.depth) & ~pop))  # scoreboard deep enough
        for d in range(self.depth):  # slot 0 is the head; shift on pop, append at the tail
            with m.If(pop):
                if d + 1 < self.depth:
                    m.d.sync += [fifo[d][k].eq(fifo[d + 1][k]) for k in range(n)]
                with m.If(push & (fill == d + 1)):
                    m.d.sync += [fifo[d][k].eq(incoming[k]) for k in range(n)]
            with m.Elif(push & (fill == d)):
                m.d.sync += [fifo[d][k].eq(incoming[k]) for k in range(n)]
        m.d.sync += fill.eq(fill + push - pop)

        # -- output side: compare with the head of the FIFO ------------------------------------
        head = fifo[0]
        opos = Signal(range(n))
        outw = [Signal(w, name=f"out_w{k}") for k in range(n)]
        take = source.valid & source.ready
        data = source.payload.data
        in_i, in_max = _argmax(head)
        in_word = Array(head)[opos]
        in_sum = sum(head[k] for k in range(n))
        alpha = Array(tab["alpha", i] for i in range(n))[in_i]
        beta = Array(tab["beta", i] for i in range(n))[in_i]
        in_window = (in_sum == one) & (alpha < in_max) & (in_max < beta)
        out_vec = [Mux(opos == k, data, outw[k]) for k in range(n)]  # whole at the last word
        out_sum = sum(out_vec[k] for k in range(n))
        out_i, _ = _argmax(out_vec)
        changed = Signal(range(n + 1))
        n_changed = changed + (data != in_word)
        if self.delta_lemma:
            # Per word, exactly: a changed word moved by Δ = a[i] + hi of its vector, where hi
            # is the stand-in's value (held from the vector's `fire` until the next one; at
            # the vector's last output word the next vector may have fired, so it is taken
            # with word 0). Full width (W + 2 bits): the equations also exclude wrap-around.
            (dg,) = unit.formal_delta_gens
            hi_cap = Signal(w)
            with m.If(take & (opos == 0)):
                m.d.sync += hi_cap.eq(dg.hi)
            hi_v = Mux(opos == 0, dg.hi, hi_cap)
            delta_v = Array(tab["a", i] for i in range(n))[in_i] + hi_v
            with m.If(take):
                m.d.comb += Assert((data == in_word)
                                   | ((opos == in_i) & (data + delta_v == in_word))
                                   | ((opos != in_i) & (data == in_word + delta_v)))
        last = take & (opos == n - 1)
        chk2 = Const(1)
        if self.delta_lemma:
            # The whole-vector checks one and two cycles after the last word, on registered
            # copies, so that what the solver proved at earlier steps is a fact at later ones
            # (smtbmc assumes the assertions it has proven): the per-word checks of the last
            # word (above and (c) below), then which words changed (b d e, and: none, or the
            # argmax word and one other), then (a) the sum, arithmetic on those facts.
            i_changed = Signal()  # word in_i changed, among the words of this vector so far
            i_changed_now = i_changed | ((opos == in_i) & (data != in_word))
            with m.If(take):
                m.d.sync += i_changed.eq(Mux(opos == n - 1, 0, i_changed_now))
            chk, chk2 = Signal(), Signal()
            r_out_sum, r_in_sum = Signal(len(out_sum)), Signal(len(in_sum))
            r2_out_sum, r2_in_sum = Signal(len(out_sum)), Signal(len(in_sum))
            r_out_i, r_in_i = Signal(range(n)), Signal(range(n))
            r_window, r_changed, r_i_changed = Signal(), Signal(range(n + 1)), Signal()
            m.d.sync += [chk.eq(last), chk2.eq(chk), r2_out_sum.eq(r_out_sum),
                         r2_in_sum.eq(r_in_sum)]
            with m.If(last):
                m.d.sync += [r_out_sum.eq(out_sum), r_in_sum.eq(in_sum), r_out_i.eq(out_i),
                             r_in_i.eq(in_i), r_window.eq(in_window), r_changed.eq(n_changed),
                             r_i_changed.eq(i_changed_now)]
            with m.If(chk):
                m.d.comb += [
                    Assert(r_out_i == r_in_i),  # (b)
                    Assert(r_window | (r_changed == 0)),  # (d)
                    Assert(r_changed <= 2),  # (e), data side
                    Assert((r_changed == 0) | ((r_changed == 2) & r_i_changed)),
                ]
            with m.If(chk2):
                m.d.comb += Assert(r2_out_sum == r2_in_sum)  # (a)
        else:  # stalls: at the last word itself, so that the whole bound counts
            with m.If(last):
                m.d.comb += [
                    Assert(out_sum == in_sum),  # (a)
                    Assert(out_i == in_i),  # (b)
                    Assert(in_window | (n_changed == 0)),  # (d)
                    Assert(n_changed <= 2),  # (e), data side
                ]
        with m.If(take):
            m.d.comb += [
                Assert(fill != 0),  # nothing comes out that did not go in
                Assert(source.payload.first == (opos == 0)),
                Assert(source.payload.last == (opos == n - 1)),
                # (c) a changed word is the argmax, decreased, or another word, increased
                Assert((data == in_word) | ((opos == in_i) & (data < in_word))
                       | ((opos != in_i) & (data > in_word))),
            ]
            m.d.sync += [Array(outw)[opos].eq(data), opos.eq(Mux(opos == n - 1, 0, opos + 1)),
                         changed.eq(Mux(opos == n - 1, 0, n_changed))]
            with m.If(opos == n - 1):
                m.d.comb += pop.eq(1)
        if self.cover_vectors:
            altered = Signal(range(self.cover_vectors + 1))
            with m.If(take & (opos == n - 1) & (n_changed != 0)
                      & (altered != self.cover_vectors)):
                m.d.sync += altered.eq(altered + 1)
            # …and its delayed checks: the last of them, (a), is still within the depth.
            m.d.comb += Cover((altered == self.cover_vectors) & chk2)
        return m


# ---------------------------------------------------------------------------------------------
# Harness 2: two copies that differ only in their secrets


COUNTERS = ("vectors_in", "vectors_out", "rejected")
#: the unit's observation interface (:class:`dynamarks.rtl.unit.ProbeSignature`) members
#: that must not depend on the secrets
STROBES = ("vector_done", "vector_dropped", "word_in", "word_out", "vector_sent", "ks_take")


class SecretsHarness(Elaboratable):
    """Two units, the same inputs except config data (``unit_secrets``)."""

    def __init__(self, classes: int = CLASSES, width: int = WIDTH, strengthen: bool = True,
                 unit_cls=None):
        self.n, self.w, self.strengthen = classes, width, strengthen
        self.unit_cls = unit_cls
        self.strengthened = 0

    def elaborate(self, platform):
        m = Module()
        n, w = self.n, self.w
        ua, fa = elaborate_unit(n, w, external_keystream=False, unit_cls=self.unit_cls)
        ub, fb = elaborate_unit(n, w, external_keystream=False, unit_cls=self.unit_cls)
        m.submodules.a, m.submodules.b = fa, fb
        shared = [AnySeq(len(ua.config.addr)), AnySeq(1), AnySeq(1), AnySeq(1)]
        stream_in = [AnySeq(w), AnySeq(1), AnySeq(1), AnySeq(1), AnySeq(1)]
        for u in (ua, ub):
            c = u.config
            m.d.comb += [c.addr.eq(shared[0]), c.we.eq(shared[1]), c.start.eq(shared[2]),
                         c.lock.eq(shared[3]), c.data.eq(AnySeq(32))]  # independent secrets
            p = u.sink.payload
            m.d.comb += [p.data.eq(stream_in[0]), p.first.eq(stream_in[1]),
                         p.last.eq(stream_in[2]), u.sink.valid.eq(stream_in[3]),
                         u.source.ready.eq(stream_in[4])]
        pairs = [(ua.sink.ready, ub.sink.ready), (ua.source.valid, ub.source.valid),
                 (ua.source.payload.first, ub.source.payload.first),
                 (ua.source.payload.last, ub.source.payload.last),
                 (ua.config.running, ub.config.running), (ua.config.locked, ub.config.locked)]
        pairs += [(getattr(ua, p), getattr(ub, p)) for p in COUNTERS]
        pairs += [(getattr(ua.probe, p), getattr(ub.probe, p)) for p in STROBES]
        for x, y in pairs:
            m.d.comb += Assert(x == y)
        if self.strengthen:
            self.strengthened = assert_untainted_equal(m, fa, fb, [ua.config.data],
                                                       [ub.config.data])
        return m


class TriviumTimingHarness(Elaboratable):
    """Two Trivium blocks, the same control, independent key/IV data (``trivium_timing``)."""

    def __init__(self, bits_per_cycle: int = 16):
        self.bpc = bits_per_cycle

    def elaborate(self, platform):
        from dynamarks.rtl.trivium import Trivium

        m = Module()
        ta, tb = Trivium(bits_per_cycle=self.bpc), Trivium(bits_per_cycle=self.bpc)
        fa, fb = Fragment.get(ta, None), Fragment.get(tb, None)
        m.submodules.a, m.submodules.b = fa, fb
        we, addr, start, rdy = AnySeq(1), AnySeq(3), AnySeq(1), AnySeq(1)
        for t in (ta, tb):
            m.d.comb += [t.key_we.eq(we), t.key_addr.eq(addr), t.start.eq(start),
                         t.keystream.ready.eq(rdy), t.key_data.eq(AnySeq(32))]
        m.d.comb += [Assert(ta.running == tb.running),
                     Assert(ta.keystream.valid == tb.keystream.valid)]
        assert_untainted_equal(m, fa, fb, [ta.key_data], [tb.key_data])
        return m


class DeltaRangeHarness(Elaboratable):
    """``delta_range``: the real :class:`DeltaGen` with free inputs and free ``load`` /
    ``fire`` strobes (any order, any gaps: the holding registers included). The harness keeps
    the ``a``, ``b`` of the last ``load`` and, at each ``fire``, those of the load the result
    is computed from; from the first ``fire`` on, whenever those satisfy ``a < b ≤ ONE``:
    ``a ≤ a + hi < b``, i.e. ``0 ≤ hi < b − a`` (W bits, no wrap) — exactly what
    :class:`FreeDeltaGen` assumes, with the same timing (``hi`` from the cycle after ``fire``
    until the next). Inductive with the asserted invariant ``d = b − a`` of the last load."""

    def __init__(self, width: int = WIDTH):
        self.w = width

    def elaborate(self, platform):
        m = Module()
        w = self.w
        dut = DeltaGen(w)
        m.submodules.dut = frag = Fragment.get(dut, None)
        load, fire = AnySeq(1), AnySeq(1)
        m.d.comb += [dut.a.eq(AnySeq(w)), dut.b.eq(AnySeq(w)), dut.r.eq(AnySeq(16)),
                     dut.load.eq(load), dut.fire.eq(fire)]
        # Without reset, like DeltaGen's registers: a, b of the last load; a, b behind the
        # result (those of the load before the last fire).
        la, lb, fa, fb = (Signal(w, reset_less=True) for _ in range(4))
        fired = Signal()
        with m.If(load):
            m.d.sync += [la.eq(dut.a), lb.eq(dut.b)]
        with m.If(fire):
            m.d.sync += [fa.eq(la), fb.eq(lb), fired.eq(1)]
        regs, _ = registers_and_taint(frag, [])
        (d1,) = [sig for sig in regs if sig.name == "d1"]  # DeltaGen's registered b − a
        m.d.comb += Assert(d1 == (lb - la)[:w])  # induction invariant
        ok = (fa < fb) & (fb <= 1 << (w - 1))
        with m.If(fired & ok):
            m.d.comb += Assert((fa <= fa + dut.hi) & (fa + dut.hi < fb))
        return m


def vectors_depth(classes: int, vectors: int = 3) -> int:
    """Cycles for the table writes and ``vectors`` whole vectors in and out, back to back:
    writes, then N cycles per vector in, then the unit's latency (N + LATENCY_EXTRA) to the
    first word of the last vector and N − 1 more, plus the two cycles by which the harness
    delays its whole-vector checks (``unit_vectors_cover`` shows they are reached)."""
    from dynamarks.rtl.unit import LATENCY_EXTRA

    writes = classes * (4 + classes)
    return writes + (vectors - 1) * classes + classes + LATENCY_EXTRA + classes + 2


#: Memories as registers for the solver (bit-level state instead of SMT arrays).
MAP_MEMORIES = ("memory_map", "opt -fast")


def induction_jobs(classes: int = CLASSES, width: int = WIDTH) -> list[Job]:
    """The unbounded proofs of (a)–(d) (:mod:`dynamarks.rtl.formal_induction`): the whole unit
    by k-induction with a tracked vector, and the lemmas its stand-ins and assumptions rest on."""
    from dynamarks.rtl.formal_induction import (
        INDUCTION_DEPTH,
        ExpectedWordsHarness,
        ParamStoreReadsHarness,
        TrackedVectorHarness,
    )

    return [
        Job("expected_words", "a b c d", lambda: ExpectedWordsHarness(classes, width), "prove",
            1, f"N={classes} W={width}: the words SPEC §9 asks for keep the sum and the argmax, "
            "do not wrap, and change only inside the window, for every vector, valid table, "
            "u and hi (lemma the induction assumes)", fast=True),
        Job("param_store_reads", "a b c d", lambda: ParamStoreReadsHarness(classes, width),
            "prove", 3, f"N={classes} W={width}: the parameter store's read ports return what "
            "was written, with its read latency (lemma: discharges TableStandIn)",
            script=MAP_MEMORIES, fast=True),
        Job("param_store_reads_by_index", "a b c d",
            lambda: ParamStoreReadsHarness(classes, width, c_by_index=True),
            "prove", 3, f"N={classes} W={width}: the same with the C table organised by word "
            "index (the ECP5's: one row C[0…N−1][k] per k)", script=MAP_MEMORIES, fast=True),
        Job("unit_induction", "a b c d",
            lambda: TrackedVectorHarness(classes, width, handshakes=("sink",)),
            "prove", INDUCTION_DEPTH,
            f"N={classes} W={width}: unbounded — every vector of every input sequence, with "
            "a free sink.valid (idle cycles between any words), output always ready: sum, "
            "argmax, no wrap, window (tracked vector and invariants)", script=MAP_MEMORIES,
            needs_fast_solver=True, timeout=3600),
        # The same harness and invariants with back-pressure (proved in 708 s), and with both
        # handshakes free (not closed yet: optional, run it with --only NAME).
        *(Job(f"unit_induction_{tag}", "a b c d",
              lambda hs=hs: TrackedVectorHarness(classes, width, handshakes=hs), "prove", 2,
              f"N={classes} W={width}: unit_induction with {what}", script=MAP_MEMORIES,
              needs_fast_solver=True, timeout=3600, optional=optional)
          for tag, hs, what, optional in (
              ("backpressure", ("source",), "a free source.ready (back-pressure)", False),
              ("free", ("sink", "source"), "both handshakes free", True))),
    ]


def jobs(classes: int = CLASSES, width: int = WIDTH) -> list[Job]:
    """The proof jobs, in the order ``make formal`` runs them."""
    d = vectors_depth(classes)
    d1 = vectors_depth(classes, vectors=1)
    return [
        Job("trivium_timing", "e", lambda: TriviumTimingHarness(), "prove", 3,
            "Trivium running/handshake independent of key and IV (two copies)", fast=True),
        Job("unit_secrets", "e", lambda: SecretsHarness(classes, width), "prove", 3,
            f"two N={classes} W={width} units, different secrets: same handshakes, status, "
            "counters, keystream consumption every cycle", fast=True),
        Job("delta_range", "a c", lambda: DeltaRangeHarness(width), "prove", 3,
            f"W={width}: Δ = a + (r·(b−a) >> 16) lies in [a, b), any load/fire timing "
            "(the lemma FreeDeltaGen assumes)", fast=True),
        Job("unit_secrets_n10w16", "e", lambda: SecretsHarness(10, 16), "prove", 3,
            "unit_secrets at the default size N=10 W=16", fast=True),
        Job("delta_range_w16", "a c", lambda: DeltaRangeHarness(16), "prove", 3,
            "delta_range at the default width W=16"),
        *induction_jobs(classes, width),
        Job("unit_vectors", "a b c d e",
            lambda: VectorHarness(classes, width, handshakes=()), "bmc", d,
            f"N={classes} W={width}: scoreboard of sum, argmax, no wrap, window, changed "
            "words; 3 whole vectors streamed back to back", script=MAP_MEMORIES, fast=True,
            # Hours with z3; ~2 min with yices: the per-word Δ check and the delayed
            # whole-vector checks keep each step's SAT problem small (see VectorHarness).
            needs_fast_solver=True),
        Job("unit_vectors_cover", "depth",
            lambda: VectorHarness(classes, width, cover_vectors=3, handshakes=()), "cover",
            d, "that depth reaches a third altered vector at the output and its delayed "
            "check (a), two cycles later", fast=True,
            script=MAP_MEMORIES),
        Job("unit_backpressure", "a b c d e",
            lambda: VectorHarness(classes, width, handshakes=("source",)), "bmc", d1,
            f"N={classes} W={width}: the scoreboard with a free source.ready (back-pressure "
            "at any cycle), vectors in back to back; one whole vector", script=MAP_MEMORIES,
            needs_fast_solver=True),
        Job("unit_gaps", "a b c d e",
            lambda: VectorHarness(classes, width, handshakes=("sink",)), "bmc", d1,
            f"N={classes} W={width}: the scoreboard with a free sink.valid (idle cycles "
            "between any words), output always ready; one whole vector", script=MAP_MEMORIES,
            needs_fast_solver=True),
    ]
