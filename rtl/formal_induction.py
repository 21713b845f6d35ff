"""Unbounded proofs of SPEC §9 (a)–(d) by k-induction: a tracked vector and its invariants.

:class:`TrackedVectorHarness` drives one :class:`~dynamarks.rtl.unit.WatermarkUnit` (free
words, free ``sink.valid`` gaps and free ``source.ready`` back-pressure where asked, a free
keystream) and follows **one** vector, chosen nondeterministically among all the vectors it
sends: its words are recorded as they are accepted (``sh``), its output is identified by
counting the vectors ahead of it, and every one of its output words and the whole vector are
checked: (c) a changed word is the argmax, decreased by Δ, or another word, increased by Δ,
in full width; (a) sum out == sum in; (b) argmax out == argmax in; (d) a vector that is not
well formed or outside its class's window comes out unchanged; and at most two words change.
Because the choice is free, the checks hold for every vector.

k-induction needs the states the unit can be in while the tracked vector waits (input gaps,
back-pressure) to be characterised: :func:`unit_invariants` asserts them, each a small fact
about a component boundary (the buffer's pointers and the words it holds, the framer's
running sum and the argmax block's result ports, the descriptor queue's slot, …) stated
against the harness's own record of the vector. They are proven together with the checks
(an invariant is an assertion like any other): nothing is assumed beyond the stand-ins below.

The invariants (:meth:`TrackedVectorHarness.elaborate`, after "invariants"), and why each
holds — every one is an assertion, so the induction proves them all together:

* **input framing** — the framer's state is what the well-framed input says: ``in_vec`` iff
  ``ipos ≠ 0``, ``in_k = ipos``, ``at_end``/``pen`` from ``ipos``, never ``dropping``; the
  argmax block's ``count = ipos``. While the tracked vector is received: the framer's running
  sum and the argmax block's result ports (``max_next``, ``index_next``) are the sum and the
  argmax (ties low) of the words so far — they fold each accepted word, and hold in gaps.
* **descriptor** — ``pending = queue.full + descriptor.valid`` (one slot: the framer stops a
  second complete vector); the tracked descriptor, at the framer's output (the cycle after its
  last word) or in the queue's slot, is (argmax, max) of its words; at the framer's output
  the running sum is still the whole sum, and while the descriptor waits in the slot the
  framer's ``wf`` (registered from that sum) is sum == ONE. In the cycle after the take
  (``pop_r``) O1 reads ``wf`` from the framer, afterwards from its own register. While the
  sequencer is between vectors (``starting``) and a descriptor waits in the slot, its
  ``o_idx`` is the slot's index (it loads what is on offer then).
* **buffer** — ``wptr = wbase + ipos``; the committed unread words ``wbase − rptr`` are the
  pending vectors' N words each plus what the sequencer has left to issue of its current
  vector; at most ``depth`` words stored (``depth − 1`` when ``sink.ready``: the registered
  ``space`` flag); the tracked words not yet issued are in memory at ``t_base + k``, and the
  read pointer is where the tracked vector's next word is.
* **accounting** — ``inflight·N = unread + in pipeline + words of the front vector already
  sent`` (ports and strobes only), and the vectors ahead of the tracked one (``ahead``, by
  which its output is identified) match the words ahead of it in the buffer and pipeline.
* **sequencer pipeline** — a mirror of the stages (valid, word index, tracked) advancing on the
  skid buffer's ``advance`` equals the stages' valid bits; the items in O1–O3 and the skid
  buffer are consecutive words of the issue stream, with no bubble inside a vector (issuing
  continues with every advance), the same vector until a word 0; the skid buffer's count
  agrees with its handshakes (``valid = count ≠ 0``, ``advance = count ≠ 2``); its entries
  (``word0`` the newest, ``word1`` the older of two) are mirrored by the harness's tags.
* **tracked data per stage** — O1: buffer and C-table read data, class, max, well-formedness;
  O2: the word, its role, u, a, the window result, the sampler's comparison results, the Δ
  generator's ``b − a`` and (after word 0) ``hi``; O3: the alter stage's output port is the
  expected word; skid entries hold the expected words with the right first/last flags; words
  already sent were the expected ones. All are set when the word enters the stage and held
  while the pipeline stalls (every stage register is enabled by ``advance``).
* **arithmetic** — :class:`ExpectedWords`: the expected words keep the sum and the argmax, do
  not wrap, and change only inside the window (proven for all values by ``expected_words``).

Stand-ins (assume–guarantee, each discharged by its own proof):

* :class:`~dynamarks.rtl.formal_harness.FreeDeltaGen` for the Δ generator — ``delta_range``;
* :class:`TableStandIn` for the parameter store: a free, valid (SPEC §3.1) table behind the
  store's read ports, with the store's read latency — ``param_store_reads`` proves the real
  store returns what was written, with that latency;
* the keystream is an input (``external_keystream``): any 32-bit word at every take.
"""

from __future__ import annotations

import ast
import contextlib
import sys
from types import SimpleNamespace
from unittest import mock

from amaranth import Array, Cat, Const, Elaboratable, Module, Mux, ResetSignal, Signal, Value
from amaranth.hdl import Assert, Assume, Fragment
from amaranth.hdl._ast import AnyConst, AnySeq
from amaranth.lib import data as data_lib
from amaranth.lib import memory as amemory
from amaranth.lib import wiring

from dynamarks.rtl.formal_harness import (
    C_BITS,
    C_ONE,
    CLASSES,
    WIDTH,
    FreeDeltaGen,
    _argmax,
    registers_and_taint,
    valid_params,
)
from dynamarks.rtl.param_store import ParamStore

FIELDS = ("alpha", "beta", "a", "b")


class ObservedMemory(amemory.Memory):
    """``lib.memory.Memory`` plus one combinational read port per address, so that a harness
    can state invariants over the words it holds (``observed[addr]``). Observation only: the
    extra ports change nothing the design reads."""

    def elaborate(self, platform):
        ports = [self.read_port(domain="comb") for _ in range(self.depth)]
        inst = super().elaborate(platform)
        m = Module()
        m.submodules.inst = inst
        for addr, port in enumerate(ports):
            m.d.comb += port.addr.eq(addr)
        self.observed = [port.data for port in ports]
        return m


class TableStandIn(wiring.Component):
    """:class:`ParamStore`'s stand-in: the same signature, a free table behind the read ports.

    ``tab[(field, class)]`` (fields alpha, beta, a, b, C0…C(N−1)) are free constants that pass
    SPEC §3.1 (assumed); the read ports return them with the store's latency (data the cycle
    after ``*_en`` with the address, held while ``*_en`` is low); an address outside the
    table reads a free value. Configuration writes are ignored (the table is already
    written); ``key_we`` and ``start`` stay low (the keystream is an input of the proof).
    """

    def __init__(self, classes: int, width: int):
        self.classes, self.width = classes, width
        store = ParamStore(classes, width)
        store._MustUse__silence = True
        self.sig = store.signature
        super().__init__(self.sig)
        self.tab = {(f, i): Signal(C_BITS if f.startswith("C") else width, name=f"tab_{f}_{i}")
                    for i in range(classes) for f in (*FIELDS, *(f"C{k}" for k in range(classes)))}

    def elaborate(self, platform):
        m = Module()
        n = self.classes
        for sig in self.tab.values():
            m.d.comb += sig.eq(AnyConst(len(sig)))
        for cond in valid_params(self.tab, n, self.width):
            m.d.comb += Assume(cond)
        rd = self.read
        for f in FIELDS:
            row = Array(self.tab[f, i] for i in range(n))
            with m.If(rd.win_en):
                m.d.sync += getattr(rd, f).eq(Mux(rd.win_addr < n, row[rd.win_addr],
                                                  AnySeq(self.width)))
        c = Array(Array(self.tab[f"C{k}", i] for k in range(n)) for i in range(n))
        with m.If(rd.c_en):
            m.d.sync += rd.c_data.eq(Mux((rd.c_cls < n) & (rd.c_index < n),
                                         c[rd.c_cls][rd.c_index], AnySeq(C_BITS)))
        m.d.comb += [self.key_we.eq(0), self.start.eq(0), self.locked.eq(0)]
        return m


# ---------------------------------------------------------------------------------------------
# Names for the registers the invariants read


def _tuple_names(filename: str, lineno: int) -> list[str] | None:
    """Target names of ``a, b, c = Signal(), Signal(), Signal()`` (or a generator of
    ``Signal``s) at ``filename:lineno``, else None."""
    tree = _AST_CACHE.get(filename)
    if tree is None:
        with open(filename) as f:
            tree = _AST_CACHE[filename] = ast.parse(f.read())
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and node.lineno == lineno and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Tuple)
                and all(isinstance(e, ast.Name) for e in node.targets[0].elts)):
            return [e.id for e in node.targets[0].elts]
    return None


_AST_CACHE: dict[str, ast.Module] = {}


def _naming_signal():
    """A ``Signal`` for the component modules that names the signals of a tuple assignment
    (Amaranth names only the last one; invariants look registers up by name)."""
    counters: dict[tuple[str, int], int] = {}

    def make(shape=None, src_loc_at=0, **kwargs):
        if kwargs.get("name") is None:
            frame = sys._getframe(1 + src_loc_at)
            key = (frame.f_code.co_filename, frame.f_lineno)
            names = _tuple_names(*key)
            if names:
                k = counters.get(key, 0)
                counters[key] = k + 1
                kwargs["name"] = names[k % len(names)]
        return Signal(shape, src_loc_at=src_loc_at + 1, **kwargs)

    return make


#: component modules whose ``Signal`` is wrapped by :func:`_naming_signal` while the unit is
#: elaborated for these proofs (names only; the logic is unchanged)
NAMED_MODULES = ("framer", "argmax", "vector_buffer", "descriptor", "sequencer", "skid",
                 "sampler", "window", "alter")


class Part:
    """A component of the elaborated unit: ``obj`` (the component, for its ports) and
    ``reg(name)`` (one of its own registers, for an invariant)."""

    def __init__(self, obj, frag: Fragment):
        self.obj, self.frag = obj, frag

    def __getattr__(self, name):
        return getattr(self.obj, name)

    def reg_names(self) -> set[str]:
        return {sig.name for _d, stmts in self.frag.statements.items() for stmt in stmts
                for sig in _assigned(stmt)}

    def reg(self, name: str) -> Signal:
        found = []
        for _domain, stmts in self.frag.statements.items():
            for stmt in stmts:
                for sig in _assigned(stmt):
                    if sig.name == name and all(sig is not f for f in found):
                        found.append(sig)
        if len(found) != 1:
            raise RuntimeError(
                f"formal invariant: {type(self.obj).__name__} has {len(found)} signals named "
                f"{name!r}; rtl/formal_induction.py states an invariant over it — update it "
                "together with the component")
        return found[0]


def _assigned(stmt):
    from amaranth.hdl._ast import Assign, Switch
    if isinstance(stmt, Assign):
        yield from stmt.lhs._lhs_signals()
    elif isinstance(stmt, Switch):
        for _patterns, body, _loc in stmt.cases:
            for s in body:
                yield from _assigned(s)


def elaborate_observed_unit(classes: int, width: int, unit_cls=None):
    """(unit, fragment, parts): the unit with the stand-ins (free Δ, free valid table, external
    keystream) and its buffer memory observed; ``parts["framer"]``, ``parts["sequencer/skid"]``
    … are :class:`Part`s; ``parts["buffer_words"]`` the buffer's words by address."""
    import importlib

    import dynamarks.rtl.sequencer as sequencer_module
    import dynamarks.rtl.unit as unit_module
    import dynamarks.rtl.vector_buffer as buffer_module

    mems: list[ObservedMemory] = []

    class _Mem(ObservedMemory):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            mems.append(self)

    patches = [
        mock.patch.object(sequencer_module, "DeltaGen", FreeDeltaGen),
        mock.patch.object(unit_module, "ParamStore", TableStandIn),
        mock.patch.object(buffer_module, "memory", SimpleNamespace(Memory=_Mem)),
    ]
    for name in NAMED_MODULES:
        mod = importlib.import_module(f"dynamarks.rtl.{name}")
        if hasattr(mod, "Signal"):
            patches.append(mock.patch.object(mod, "Signal", _naming_signal()))
    with contextlib.ExitStack() as stack:
        for p in patches:
            stack.enter_context(p)
        cls = unit_cls or unit_module.WatermarkUnit
        unit = cls(classes=classes, width=width, external_keystream=True)
        frag = Fragment.get(unit, None)
    parts: dict = {}

    def walk(f, path):
        origin = f.origins[0] if getattr(f, "origins", None) else None
        if path and origin is not None:
            parts[path] = Part(origin, f)
        for sub, name, _loc in f.subfragments:
            walk(sub, f"{path}/{name}" if path else str(name))

    walk(frag, "")
    parts["buffer_words"] = mems[0].observed
    return unit, frag, parts


# ---------------------------------------------------------------------------------------------
# The harness


IDLE, RECV, WAIT, OUT, DONE = range(5)

#: k of the k-induction (the invariants are inductive in two steps)
INDUCTION_DEPTH = 2


def _dec(e, n):
    return Mux(e == 0, n - 1, e - 1)


class TrackedVectorHarness(Elaboratable):
    """One unit, free inputs, one nondeterministically tracked vector (module docstring)."""

    def __init__(self, classes: int = CLASSES, width: int = WIDTH,
                 handshakes: tuple[str, ...] = ("sink", "source"), unit_cls=None,
                 invariants: bool = True):
        self.n, self.w, self.handshakes = classes, width, handshakes
        self.unit_cls, self.invariants = unit_cls, invariants
        self.inv_lines: list[int] = []

    def elaborate(self, platform):
        m = Module()
        n, w = self.n, self.w
        one = 1 << (w - 1)
        unit, frag, P = elaborate_observed_unit(n, w, self.unit_cls)
        m.submodules.unit = frag
        m.d.comb += Assume(~ResetSignal())
        tab = P["params"].obj.tab

        def free(which):
            return AnySeq(1) if which in self.handshakes else Const(1, 1)

        cfg = unit.config
        m.d.comb += [cfg.we.eq(0), cfg.start.eq(0), cfg.lock.eq(0), cfg.addr.eq(0),
                     cfg.data.eq(0),
                     unit.keystream.valid.eq(1), unit.keystream.payload.eq(AnySeq(32))]
        sink, source = unit.sink, unit.source
        ipos = Signal(range(n))
        m.d.comb += [
            sink.valid.eq(free("sink")), sink.payload.data.eq(AnySeq(w)),
            sink.payload.first.eq(ipos == 0), sink.payload.last.eq(ipos == n - 1),
            source.ready.eq(free("source")),
        ]
        accept = sink.valid & sink.ready
        take = source.valid & source.ready
        with m.If(accept):
            m.d.sync += ipos.eq(Mux(ipos == n - 1, 0, ipos + 1))
        probe = unit.probe

        # -- ghost state of the whole stream ------------------------------------------------
        framer, queue, seq = P["framer"], P["queue"], P["sequencer"]
        buf, skid, delta = P["buffer"], P["sequencer/skid"], P["sequencer/delta"]
        adv = skid.advance
        issue = buf.read.next
        pop = queue.source.valid & queue.source.ready
        inflight = Signal(range(8))     # vectors committed, not yet sent whole
        pipe = Signal(range(8))         # words issued by the sequencer, not yet sent
        opos_all = Signal(range(n))     # position in its vector of the next word out
        m.d.sync += [inflight.eq(inflight + probe.vector_done - probe.vector_sent),
                     pipe.eq(pipe + issue - take)]
        with m.If(take):
            m.d.sync += opos_all.eq(Mux(opos_all == n - 1, 0, opos_all + 1))

        # -- the tracked vector -------------------------------------------------------------
        st = Signal(range(5))
        sh = [Signal(w, name=f"sh{k}") for k in range(n)]
        t_base = Signal(len(buf.reg("wbase")))
        ahead = Signal(range(8))
        opos = Signal(range(n))
        outw = [Signal(w, name=f"tout{k}") for k in range(n)]
        ds = Signal(range(4))           # its descriptor: 0 not yet, 1 framer, 2 slot, 3 taken
        t_issued = Signal(range(n + 1))
        u_t = Signal(16)
        hi_t = Signal(w)
        pick = AnySeq(1)
        with m.If(accept & (ipos == 0) & (st == IDLE) & pick):
            m.d.sync += [st.eq(RECV), sh[0].eq(sink.payload.data),
                         t_base.eq(buf.reg("wbase"))]
        with m.If(accept & (st == RECV)):
            m.d.sync += Array(sh)[ipos].eq(sink.payload.data)
            with m.If(ipos == n - 1):
                m.d.sync += [st.eq(WAIT), ds.eq(1),
                             ahead.eq(inflight - probe.vector_sent)]
        with m.If((st == WAIT) & probe.vector_sent):
            m.d.sync += ahead.eq(ahead - 1)
        tr_pop = Signal()
        m.d.comb += tr_pop.eq(pop & (((ds == 1) & ~queue.reg("full")) | (ds == 2)))
        with m.If(ds == 1):
            m.d.sync += ds.eq(Mux(tr_pop, 3, 2))
        with m.If((ds == 2) & tr_pop):
            m.d.sync += ds.eq(3)
        issuing_t = Signal()
        m.d.comb += issuing_t.eq(issue & (tr_pop | ((ds == 3) & (t_issued < n))))
        with m.If(issuing_t):
            m.d.sync += t_issued.eq(t_issued + 1)

        # mirror of the sequencer's stages: (valid, word index, tracked) per stage
        mv = [Signal(name=f"m{s}_v") for s in (1, 2, 3)]
        mk = [Signal(range(n), name=f"m{s}_k") for s in (1, 2, 3)]
        mt = [Signal(name=f"m{s}_t") for s in (1, 2, 3)]
        o_k = seq.reg("o_k")
        with m.If(adv):
            m.d.sync += [mv[0].eq(issue), mk[0].eq(o_k), mt[0].eq(issuing_t)]
            for s in (1, 2):
                m.d.sync += [mv[s].eq(mv[s - 1]), mk[s].eq(mk[s - 1]), mt[s].eq(mt[s - 1])]
        # skid entries' tags
        tag_k = [Signal(range(n), name=f"tag{e}_k") for e in (0, 1)]
        tag_t = [Signal(name=f"tag{e}_t") for e in (0, 1)]
        # (entry 0 mirrors word0, the newest word held; entry 1 word1, the older of two)
        count = skid.reg("count")
        sk_push = adv & skid.i_valid
        sk_shift = sk_push & ((count == 2) | ((count == 1) & ~source.ready))
        with m.If(sk_push):
            m.d.sync += [tag_k[0].eq(mk[2]), tag_t[0].eq(mt[2])]
        with m.If(sk_shift):
            m.d.sync += [tag_k[1].eq(tag_k[0]), tag_t[1].eq(tag_t[0])]
        rp = Signal(name="skid_oldest")     # the entry on `source`
        m.d.comb += rp.eq(count == 2)
        sk_occ = [count != 0, count == 2]   # entries occupied
        head1 = seq.reg("head1")
        with m.If(head1 & mt[0]):
            m.d.sync += u_t.eq(unit.keystream.payload[16:])
        drawn = Signal()                # u and hi of the tracked vector are known
        with m.If(delta.fire & mt[1]):
            m.d.sync += [hi_t.eq(delta.obj.free_value), drawn.eq(1)]

        # -- output of the tracked vector ---------------------------------------------------
        out_turn = ((st == WAIT) & (ahead == 0)) | (st == OUT)
        out_now = Signal()
        m.d.comb += out_now.eq(take & out_turn)
        k_now = Mux(st == OUT, opos, 0)
        with m.If(out_now):
            m.d.sync += [Array(outw)[k_now].eq(source.payload.data),
                         opos.eq(Mux(k_now == n - 1, 0, k_now + 1)),
                         st.eq(Mux(k_now == n - 1, DONE, OUT))]

        # what the unit must do with it
        in_i, in_max = _argmax(sh)
        in_sum = sum(sh)
        row = {f: Array(tab[f, i] for i in range(n))[in_i] for f in FIELDS}
        c_row = [Array(tab[f"C{k}", i] for i in range(n))[in_i] for k in range(n)]
        wf = in_sum == one
        window = (row["alpha"] < in_max) & (in_max < row["beta"])
        inside = wf & window
        data = source.payload.data
        word = Array(sh)[k_now]
        a_i, b_i = row["a"], row["b"]
        with m.If(out_now):
            m.d.comb += [
                Assert(source.payload.first == (k_now == 0)),
                Assert(source.payload.last == (k_now == n - 1)),
                # (c), full width: the argmax word loses Δ ∈ [a, b), another gains it
                Assert((data == word)
                       | (inside & (k_now == in_i) & (data < word)
                          & (word - data >= a_i) & (word - data < b_i))
                       | (inside & (k_now != in_i) & (data > word)
                          & (data - word >= a_i) & (data - word < b_i))),
            ]
        out_vec = [Mux(k_now == k, data, outw[k]) for k in range(n)]
        out_i, _ = _argmax(out_vec)
        n_changed = sum((out_vec[k] != sh[k]).as_unsigned() for k in range(n))
        with m.If(out_now & (k_now == n - 1)):
            m.d.comb += [
                Assert(sum(out_vec) == in_sum),          # (a)
                Assert(out_i == in_i),                   # (b)
                Assert(inside | (n_changed == 0)),       # (d)
                Assert(n_changed <= 2),
            ]
        if not self.invariants:
            return m

        # -- invariants ---------------------------------------------------------------------
        def inv(*conds):
            line = sys._getframe(1).f_lineno
            for c in conds:
                m.d.comb += Assert(c, src_loc_at=1)
                self.inv_lines.append(line)

        # expected output words of the tracked vector (once u and hi are drawn), and the
        # arithmetic facts about them — proven by `expected_words` for all values, assumed here
        ex = ExpectedWords(sh, row, c_row, u_t, hi_t, n, w)
        exp, exp_a = ex.exp, Array(ex.exp)
        m.d.comb += Assume(~(drawn & ex.premise) | ex.facts)
        with m.If(drawn):
            inv(ex.premise)

        amax = P["framer/argmax"]
        in_vec, pending = framer.reg("in_vec"), framer.reg("pending")
        dvalid, dpay = framer.descriptor.valid, framer.descriptor.payload
        full = queue.reg("full")
        slot = data_lib.View(queue.obj.layout, queue.reg("slot"))
        # framer
        part_sum = sum(Mux(k < ipos, sh[k], 0) for k in range(n))
        part_i, part_max = _argmax_prefix(sh, ipos)
        inv(in_vec == (ipos != 0), ~framer.reg("dropping"),
            ~in_vec | ((framer.reg("in_k") == ipos) & (framer.reg("at_end") == (ipos == n - 1))
                       & (framer.reg("pen") == (ipos == n - 2)) & (amax.count == ipos)),
            pending == full + dvalid,
            ~framer.reg("ready_r") | (pending == 0) | ~(in_vec & framer.reg("at_end")))
        # the framer's registered combinations of its state (one LUT from the sink to the
        # buffer's commit, two to sink.ready)
        ready_r, at_end = framer.reg("ready_r"), framer.reg("at_end")
        inv(framer.reg("ready_end") == (ready_r & in_vec & at_end),
            framer.reg("near") == (in_vec & ~at_end & framer.reg("pen")),
            framer.reg("at_end_in") == (in_vec & at_end))
        with m.If(st == RECV):
            acc = Cat(framer.reg("acc_lo"), framer.reg("acc_hi") + framer.reg("acc_c"))
            inv(acc == part_sum, amax.max_next == part_max,
                amax.index_next == part_i)
        # (sum == ONE leaves the framer a cycle after the descriptor, as `wf`, registered from
        # the sum at T+1, and stays until the next commit, which waits for the take)
        with m.If(ds == 1):
            acc = Cat(framer.reg("acc_lo"), framer.reg("acc_hi") + framer.reg("acc_c"))
            inv(dvalid, ~full, dpay.index == in_i, dpay.max == in_max, acc == in_sum)
        with m.If(ds == 2):
            inv(full, slot.index == in_i, slot.max == in_max, framer.wf == wf)
        # the sequencer's `o_idx` keeps a copy of the slot's index while it waits to be issued
        inv(~(seq.reg("starting") & full) | (seq.reg("o_idx") == slot.index))
        # buffer
        wptr, wbase, rptr = buf.reg("wptr"), buf.reg("wbase"), buf.reg("rptr")
        depth = len(P["buffer_words"])
        pw = len(wptr)
        starting = seq.reg("starting")
        left = Mux(starting, 0, n - o_k)           # words of the issuing vector not issued
        unread = (wbase - rptr)[:pw]
        used = (wptr - rptr)[:pw]
        inv(wptr == (wbase + ipos)[:pw],
            unread == pending * n + left,
            used <= depth,
            ~framer.reg("ready_r") | (used < depth),
            inflight * n == unread + pipe + opos_all,
            starting == (o_k == 0))
        words = Array(P["buffer_words"])
        for k in range(n):
            stored = ((st == RECV) & (k < ipos)) | ((st >= WAIT) & (k >= t_issued))
            with m.If(stored):
                inv(words[(t_base + k)[:len(wptr) - 1]] == sh[k])
        with m.If(st == RECV):
            inv(t_base == wbase)
        inv(st <= DONE, t_issued <= n, (st == OUT) | (opos == 0), opos < n, opos_all < n,
            ipos < n, o_k < n, *(k < n for k in (*mk, *tag_k)), inflight <= 4, pipe <= 5)
        with m.If(st <= RECV):
            inv(ds == 0, t_issued == 0, ~drawn)
        with m.If(st == WAIT):
            inv(ds != 0)
        with m.If(st == OUT):
            inv(ds == 3, t_issued > opos, opos != 0)
        with m.If(st == DONE):
            inv(ds == 3, t_issued == n)
        with m.If(st >= OUT):
            inv(drawn)
        with m.If(st == OUT):
            inv(*(~(k < opos) | (outw[k] == exp[k]) for k in range(n)))
        with m.If(~drawn):
            inv(~(mv[2] & mt[2]), ~(mv[1] & mt[1] & (mk[1] != 0)),
                *(~(tag_t[e_] & sk_occ[e_]) for e_ in (0, 1)))
        with m.If((ds == 1) | (ds == 2)):
            inv((t_base - rptr)[:pw] == left, t_issued == 0)
        with m.If((ds == 3) & (t_issued < n)):
            inv(rptr == (t_base + t_issued)[:pw], o_k == t_issued, ~starting,
                seq.reg("o_idx") == in_i)
        # sequencer stages
        valid = [seq.reg("o1_valid"), seq.reg("o2_valid"), seq.reg("o3_valid")]
        firsts = [seq.reg("o1_first"), seq.reg("o2_first"), seq.reg("o3_first")]
        lasts = [seq.reg("o1_last"), seq.reg("o2_last"), seq.reg("o3_last")]
        inv(pipe == sum(v.as_unsigned() for v in valid) + count,
            head1 == (adv & valid[0] & firsts[0]),
            source.valid == (count != 0), adv == (count != 2), count <= 2)
        e = _dec(o_k, n)
        n_t = 0
        seen, older = Const(0), 0   # a tracked item among the younger ones; items older
        # the last younger item seen (first: the word the issue stage works on): its vector
        # continues into the next older item unless it is a word 0
        cont = ~starting
        last_t = (ds == 3) & (t_issued < n) & (t_issued > 0)
        for s in range(3):
            inv(mv[s] == valid[s])
            with m.If(mv[s]):
                inv(mk[s] == e, firsts[s] == (mk[s] == 0), lasts[s] == (mk[s] == n - 1))
            with m.If(mv[s] & cont):
                inv(mt[s] == last_t)
            cont = Mux(mv[s], mk[s] != 0, cont)
            last_t = Mux(mv[s], mt[s], last_t)
            e = Mux(mv[s], _dec(e, n), e)
            n_t = n_t + (mv[s] & mt[s]).as_unsigned()
            older = older + (mv[s] & ~mt[s] & seen).as_unsigned()
            seen = seen | (mv[s] & mt[s])
        with m.If(mv[0]):
            inv(seq.reg("o1_k") == mk[0])
        # no bubble inside a vector in O1–O3: the stages advance together, and issuing goes on
        # with every advance until a vector's last word
        inv(starting | mv[0], *(~(mv[s] & (mk[s] != 0)) | mv[s + 1] for s in (0, 1)))
        # skid entries, newest first
        newest, oldest = Const(0, 1), rp
        occ = [count == 2, count != 0]  # occupied: newest (when two), oldest
        for slot_e, o in zip((newest, oldest), occ, strict=True):
            tk, tt = Array(tag_k)[slot_e], Array(tag_t)[slot_e]
            with m.If(o):
                inv(tk == e)
            with m.If(o & cont):
                inv(tt == last_t)
            cont = Mux(o, tk != 0, cont)
            last_t = Mux(o, tt, last_t)
            n_t = n_t + (o & tt).as_unsigned()
            older = older + (o & ~tt & seen).as_unsigned()
            seen = seen | (o & tt)
            e = Mux(o, _dec(e, n), e)
        del e
        t_sent = Mux(st == OUT, opos, Mux(st == DONE, n, 0))
        with m.If(count != 0):
            inv(Array(tag_k)[rp] == opos_all)
        inv(n_t == t_issued - t_sent)
        with m.If((st == WAIT) & ((ds == 1) | (ds == 2))):
            inv(ahead * n == opos_all + pipe + left)
        with m.If((st == WAIT) & (ds == 3)):
            inv(ahead * n == opos_all + older)
        with m.If(source.valid & out_turn):
            inv(Array(tag_t)[rp], Array(tag_k)[rp] == k_now)
        # data of the tracked words in the stages
        tables = seq.tables
        o1_max, o1_wf = ~seq.reg("o1_max_n"), seq.reg("o1_wf")
        # `wf` reaches O1 a cycle after word 0 (`pop_r`): until then it is the framer's
        pop_r = seq.reg("pop_r")
        inv(~pop_r | (valid[0] & firsts[0]))
        with m.If(mv[0] & mt[0]):
            inv(Mux(pop_r, framer.wf, o1_wf) == wf)
        with m.If(mv[0] & mt[0]):
            inv(seq.reg("o1_idx") == in_i, o1_max == in_max,
                buf.read.data == Array(sh)[mk[0]], tables.c_data == Array(c_row)[mk[0]])
            with m.If(mk[0] == 0):
                inv(tables.alpha == row["alpha"], tables.beta == row["beta"],
                    tables.a == a_i, tables.b == b_i)
        t_in_o2 = mv[1] & mt[1]
        c_of = Array(c_row)
        with m.If(t_in_o2):
            inv(seq.reg("o2_p") == Array(sh)[mk[1]], seq.reg("o2_is_i") == (mk[1] == in_i),
                seq.reg("o2_u") == u_t, seq.reg("o2_a") == a_i, seq.reg("o2_wf") == wf,
                P["sequencer/window"].inside == window,
                delta.reg("d1") == (b_i - a_i)[:w])
            with m.If(mk[1] != 0):
                inv(delta.hi == hi_t, hi_t < (b_i - a_i)[:w])
        # The sampler compares in O1 straight from the table and registers u < C[i][k] of the
        # word in O2 (word 0: lt0, from the keystream word on offer; the others: lt, from the
        # held u); ge_prev is ¬lt of the one before, first2 marks word 0.
        samp = P["sequencer/sampler"]
        with m.If(t_in_o2):
            inv(samp.reg("first2") == (mk[1] == 0))
            with m.If(mk[1] == 0):
                inv(samp.reg("lt0") == (u_t < c_of[0]))
            with m.If(mk[1] != 0):
                inv(samp.reg("lt") == (u_t < c_of[mk[1]]),
                    samp.reg("ge_prev") == ~(u_t < c_of[_dec(mk[1], n)]))
        with m.If(mv[2] & mt[2]):
            inv(P["sequencer/alter"].out == exp_a[mk[2]], delta.hi == hi_t,
                hi_t < (b_i - a_i)[:w])
        for e_ in (0, 1):
            occupied = sk_occ[e_]
            word_e = data_lib.View(skid.obj.shape, skid.reg(f"word{e_}"))
            with m.If(occupied):
                inv(word_e.first == (tag_k[e_] == 0), word_e.last == (tag_k[e_] == n - 1))
            with m.If(occupied & tag_t[e_]):
                inv(word_e.data == exp_a[tag_k[e_]], hi_t < (b_i - a_i)[:w])
        return m


def _argmax_prefix(words: list, count) -> tuple:
    """(index, value) of the maximum of ``words[:count]`` (ties → lowest index)."""
    idx, best = Const(0, range(len(words))), words[0]
    for k in range(1, len(words)):
        better = (k < count) & (words[k] > best)
        idx = Mux(better, k, idx)
        best = Mux(better, words[k], best)
    return idx, best


class ExpectedWords:
    """What the unit must send for a vector ``sh`` (SPEC §9), from its class's table row, the
    drawn ``u`` (j = #{k : C[i][k] ≤ u}) and ``hi`` (Δ = a + hi), as expressions: ``exp`` (W
    bits each); ``premise`` (``hi < b − a``, ``C`` row ends at 65536); ``facts``: every word
    equals its full-width value (no wrap, (c)), sum(exp) == sum(sh) (a), argmax kept (b),
    unchanged unless well formed and inside the window (d), at most two words changed.
    ``expected_words`` proves ``premise → facts`` for every value (with a valid table)."""

    def __init__(self, sh, row, c_row, u, hi, n, w):
        one = 1 << (w - 1)
        in_i, in_max = _argmax(sh)
        in_sum = sum(sh)
        a_i, b_i = row["a"], row["b"]
        inside = (in_sum == one) & (row["alpha"] < in_max) & (in_max < row["beta"])
        j = sum((c_row[k] <= u).as_unsigned() for k in range(n))
        alt = inside & (j != in_i)
        dlt = (a_i + hi)[:w]
        self.exp = [Mux(alt & (in_i == k), sh[k] - dlt,
                        Mux(alt & (j == k), sh[k] + dlt, sh[k]))[:w] for k in range(n)]
        wide = w + 2
        ext = [sh[k].as_unsigned() + Const(0, wide) for k in range(n)]
        ext_exp = [Mux(alt & (in_i == k), ext[k] - dlt, Mux(alt & (j == k), ext[k] + dlt, ext[k]))
                   for k in range(n)]
        exp_i, _ = _argmax(self.exp)
        changed = sum((self.exp[k] != sh[k]).as_unsigned() for k in range(n))
        self.premise = (hi < (b_i - a_i)[:w]) & (c_row[n - 1] == C_ONE)
        facts = [*(ext_exp[k] == self.exp[k] for k in range(n)), sum(self.exp) == in_sum,
                 exp_i == in_i, inside | (changed == 0), changed <= 2]
        self.facts = facts[0]
        for f in facts[1:]:
            self.facts = self.facts & f
        self.fact_list = facts


class ExpectedWordsHarness(Elaboratable):
    """``expected_words``: :class:`ExpectedWords`' ``premise → facts`` for every vector, every
    valid table (SPEC §3.1), every ``u`` and ``hi`` — combinational, so depth 1 is a proof."""

    def __init__(self, classes: int = CLASSES, width: int = WIDTH):
        self.n, self.w = classes, width

    def elaborate(self, platform):
        m = Module()
        n, w = self.n, self.w
        m.submodules.tables = st = TableStandIn(n, w)
        tab = st.tab
        m.d.comb += [st.read.win_en.eq(0), st.read.c_en.eq(0)]
        sh = [Signal(w, name=f"sh{k}") for k in range(n)]
        u, hi = Signal(16), Signal(w)
        m.d.comb += [*(x.eq(AnyConst(len(x))) for x in (*sh, u, hi))]
        in_i, _ = _argmax(sh)
        row = {f: Array(tab[f, i] for i in range(n))[in_i] for f in FIELDS}
        c_row = [Array(tab[f"C{k}", i] for i in range(n))[in_i] for k in range(n)]
        ex = ExpectedWords(sh, row, c_row, u, hi, n, w)
        with m.If(ex.premise):
            m.d.comb += [Assert(f) for f in ex.fact_list]
        return m


class ParamStoreReadsHarness(Elaboratable):
    """``param_store_reads``: the real :class:`ParamStore` returns on its read ports what was
    written through the configuration port — the contract :class:`TableStandIn` stands for.

    Free configuration traffic (addresses, data, write strobes, lock) and free reads (any
    address, any enable pattern). One C entry ``(ci, ck)`` and one window/Δ field ``(wi, f)``
    are chosen freely (``AnyConst``) and shadowed: the value of the last write to each that
    the store accepted (not locked), landing one cycle after it is presented. Whenever a read
    port's data belong to a read of that entry (data the cycle after ``*_en`` with the
    address, held while ``*_en`` is low) and the entry has been written, they equal the
    shadow. Precondition (the store's documented usage: tables are written only while the unit
    is idle): no read is enabled in a cycle where a write to the same entry lands.
    Inductive with the invariant "the memory word holds the shadow" (the memory observed
    through :class:`ObservedMemory`)."""

    def __init__(self, classes: int = CLASSES, width: int = WIDTH, *, c_by_index: bool = False):
        self.n, self.w = classes, width
        #: the C table organised by word index (the ECP5's), else by class
        self.c_by_index = c_by_index

    def elaborate(self, platform):
        import dynamarks.rtl.param_store as ps_module
        from dynamarks.rtl.param_store import SPACE_C, SPACE_WINDOW, class_bits

        m = Module()
        n, w = self.n, self.w
        b = class_bits(n)
        mems: list[ObservedMemory] = []

        class _Mem(ObservedMemory):
            def __init__(self, *a, **kw):
                super().__init__(*a, **kw)
                mems.append(self)

        with mock.patch.object(ps_module, "memory", SimpleNamespace(Memory=_Mem)):
            dut = ParamStore(n, w, c_by_index=self.c_by_index)
            frag = Fragment.get(dut, None)
        m.submodules.dut = frag
        win_mem, c_mem = mems
        m.d.comb += Assume(~ResetSignal())
        addr, data, we, lock = (AnySeq(len(dut.cfg_addr)), AnySeq(32), AnySeq(1), AnySeq(1))
        m.d.comb += [dut.cfg_addr.eq(addr), dut.cfg_data.eq(data), dut.cfg_we.eq(we),
                     dut.cfg_lock.eq(lock), dut.cfg_start.eq(AnySeq(1))]
        rd = dut.read
        m.d.comb += [rd.win_addr.eq(AnySeq(len(rd.win_addr))), rd.win_en.eq(AnySeq(1)),
                     rd.c_cls.eq(AnySeq(len(rd.c_cls))), rd.c_index.eq(AnySeq(len(rd.c_index))),
                     rd.c_en.eq(AnySeq(1))]
        ci, ck, wi = (Signal(b, name=x) for x in ("ci", "ck", "wi"))
        f = Signal(2, name="f")
        m.d.comb += [ci.eq(AnyConst(b)), ck.eq(AnyConst(b)), wi.eq(AnyConst(b)),
                     f.eq(AnyConst(2)), Assume(ci < n), Assume(ck < n), Assume(wi < n)]
        accepted = we & ~(dut.locked | lock)
        c_addr = Const(SPACE_C, 2).replicate(1)
        hit_c = accepted & (addr == Cat_(ck, ci, c_addr))
        hit_w = accepted & (addr == Cat_(f, Const(0, b - 2), wi, Const(SPACE_WINDOW, 2)))
        # shadows: a write presented in cycle t lands at the end of cycle t + delay, where the
        # delay (0 or 1) is the store's (1 when it registers the port: a register ``wdata``)
        regs, _ = registers_and_taint(frag, [])
        delay = 1 if any(r.name == "wdata" for r in regs) else 0
        c_val, w_val = Signal(C_BITS), Signal(w)
        c_wr, w_wr = Signal(), Signal()       # a write lands at the end of this cycle
        c_new, w_new = Signal(C_BITS), Signal(w)
        c_has, w_has = Signal(), Signal()
        if delay:
            m.d.sync += [c_wr.eq(hit_c), w_wr.eq(hit_w), c_new.eq(data[:C_BITS]),
                         w_new.eq(data[:w])]
        else:
            m.d.comb += [c_wr.eq(hit_c), w_wr.eq(hit_w), c_new.eq(data[:C_BITS]),
                         w_new.eq(data[:w])]
        with m.If(c_wr):
            m.d.sync += [c_val.eq(c_new), c_has.eq(1)]
        with m.If(w_wr):
            m.d.sync += [w_val.eq(w_new), w_has.eq(1)]
        c_rd_t = (rd.c_cls == ci) & (rd.c_index == ck)
        w_rd_t = rd.win_addr == wi
        m.d.comb += [Assume(~(c_wr & rd.c_en & c_rd_t)), Assume(~(w_wr & rd.win_en & w_rd_t))]
        # what the read ports must show: the shadow as it was at the read
        c_shows, w_shows = Signal(), Signal()
        c_exp, w_exp = Signal(C_BITS), Signal(w)
        with m.If(rd.c_en):
            m.d.sync += [c_shows.eq(c_rd_t & c_has), c_exp.eq(c_val)]
        with m.If(rd.win_en):
            m.d.sync += [w_shows.eq(w_rd_t & w_has), w_exp.eq(w_val)]
        field = Array([rd.alpha, rd.beta, rd.a, rd.b])[f]
        with m.If(c_shows):
            m.d.comb += Assert(rd.c_data == c_exp)
        with m.If(w_shows):
            m.d.comb += Assert(field == w_exp)
        # invariants: the memory words hold the shadows; the read registers show them
        if self.c_by_index:     # row ck holds C[0…N−1][ck]
            c_word = Array(Value.cast(o) for o in c_mem.observed)[ck].word_select(ci, C_BITS)
        else:
            c_word = Array(c_mem.observed)[Cat_(ck, ci)]
        w_word = Array(win_mem.observed)[wi]
        w_field = Array([w_word[k] for k in range(4)])[f]
        with m.If(c_has):   # by class, C is stored complemented
            m.d.comb += Assert(c_word == (c_val if self.c_by_index else ~c_val))
        with m.If(w_has):   # one field (b, without a platform) is stored complemented
            neg = ps_module.complemented_field(None)
            m.d.comb += Assert(w_field == Mux(f == neg, ~w_val, w_val))
        return m


def Cat_(*parts):
    from amaranth import Cat
    return Cat(*parts)
