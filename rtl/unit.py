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
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .alter import AlterStage
from .argmax import Argmax
from .delta import DeltaGen
from .param_store import ConfigSignature, ParamStore, class_bits
from .sampler import Sampler
from .trivium import Trivium
from .vector_buffer import VectorBuffer
from .window import Window

__all__ = ["WatermarkUnit", "word_layout", "LATENCY_EXTRA"]

#: latency − N: from the cycle a vector's first word is accepted to the first cycle its first
#: output word is valid is N + LATENCY_EXTRA cycles (output not back-pressured).
LATENCY_EXTRA = 7


def word_layout(width: int) -> data.StructLayout:
    """Payload of both streams: ``data`` (W bits), ``first``, ``last``."""
    return data.StructLayout({"data": unsigned(width), "first": 1, "last": 1})


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
        Write the key/IV words and the tables (``config_writes()`` gives the list), then pulse
        ``config.start``: the Trivium warm-up takes ``1152/bits`` cycles (``bits`` = Trivium
        clocks per cycle, default the smallest power of two ≥ 32/N: N=10 → 4 bits, 288
        cycles), then ``config.running`` rises and ``sink.ready`` may rise. The keystream
        position (vector number 0) is counted from that start. ``config.lock`` refuses writes
        and starts until reset. Reset zeroes the Trivium state (a key must be written again).

    Throughput and latency
        One word per clock sustained: with ``source.ready`` high and words offered every cycle,
        a new vector enters every N cycles with no bubble between vectors, and leaves every N
        cycles. Latency: the first output word of a vector is valid ``N + 7`` cycles after its
        first input word is accepted (``LATENCY_EXTRA``); the same holds last word to last word.
        Measured in tests/test_rtl_unit.py.

    Pipeline (T = the cycle the last word is accepted)
        T: the word goes into the circular buffer (block RAM); argmax/sum registers update; the
        keystream word is taken. T+1: window/Δ row read for ``i``; ``sum == ONE``. T+2: window
        comparison, ``b − a``. T+3: ``r · (b − a)`` (DSP). T+4: Δ and the descriptor
        ``(i, u, Δ, ok)`` go into a small queue. T+5: the first word is read from the buffer
        with ``C[i][0]``. T+6: ``u < C[i][k]``. T+7: add/subtract. T+8: on ``source``.
        The output side stalls as a whole on ``source.ready``.

    Parameters
        ``classes`` N (2 ≤ N ≤ 64), ``width`` W (10 ≤ W ≤ 24); ``trivium_bits`` (power of two,
        32/trivium_bits ≤ N); ``external_keystream`` replaces the Trivium by a ``keystream``
        input stream of 32-bit words (for formal proofs: then ``sink.ready`` also waits for
        ``keystream.valid``, and ``config.running`` is 1).

    For formal proofs (internal signals, readable from a harness that instantiates the unit)
        ``word_in`` — a sink handshake; ``vector_done`` — the last word of a well-framed vector
        is accepted this cycle (a keystream word is consumed); ``vector_dropped`` — at least one
        malformed vector is counted this cycle; ``word_out`` — a source handshake;
        ``vector_sent`` — the last word of a vector is handed over this cycle;
        ``ks_word`` — the 32-bit keystream word consumed with ``vector_done``.
    """

    def __init__(self, classes: int = 10, width: int = 16, *, trivium_bits: int | None = None,
                 external_keystream: bool = False):
        if not 2 <= classes <= 64:
            raise ValueError("classes must be 2 … 64")
        if not 2 <= width <= 32:
            raise ValueError("width must be 2 … 32 (SPEC: 10 … 24)")
        if trivium_bits is None:
            trivium_bits = min(32, 1 << ceil_log2(-(-32 // classes)))
        if 32 % trivium_bits or 32 // trivium_bits > classes:
            raise ValueError(f"trivium_bits must be a power of two with 32/bits ≤ N ({classes})")
        self.classes, self.width = classes, width
        self.trivium_bits = trivium_bits
        self.external_keystream = external_keystream
        #: circular buffer depth (words)
        self.buffer_depth = 1 << ceil_log2(2 * classes + 8)
        #: descriptors (vectors between input and output) the unit holds at most
        self.queue_depth = -(-6 // classes) + 1
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
        self.word_in = Signal()
        self.vector_done = Signal()
        self.vector_dropped = Signal()
        self.word_out = Signal()
        self.vector_sent = Signal()
        self.ks_word = Signal(32)

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
        m.submodules.alter = alter = AlterStage(w)
        desc_layout = data.StructLayout({
            "idx": unsigned(b), "u": unsigned(16), "delta": unsigned(w), "ok": 1})
        m.submodules.queue = queue = fifo.SyncFIFO(width=desc_layout.size,
                                                   depth=self.queue_depth)

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
            ks_ok = ks.valid
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
            ks_ok = 1   # guaranteed by 32/bits ≤ N (checked in the tests)
        m.d.comb += cfg.running.eq(running)

        # ---- input side: framing, buffer writes, argmax and sum ----------------------------
        IDLE, IN, DROP = 0, 1, 2
        in_state = Signal(2)
        in_k = Signal(range(n))          # words of the current vector received (state IN)
        acc_sum = Signal(w + ceil_log2(n) + 1)
        pending = Signal(range(self.queue_depth + 1))   # complete vectors not yet started out
        pop = Signal()

        sink = self.sink
        word = sink.payload
        accept = Signal()
        write = Signal()
        first = Signal()
        commit = Signal()
        abort = Signal()
        rej = Signal(2)
        m.d.comb += [
            sink.ready.eq(running & ks_ok & buf.w_space & (pending < self.queue_depth)),
            accept.eq(sink.valid & sink.ready),
            first.eq(word.first),
        ]
        with m.If(accept):
            with m.If(word.first):
                with m.If(word.last):              # a one-word "vector" (N ≥ 2)
                    m.d.comb += [rej.eq((in_state == IN) + 1), abort.eq(1)]
                    m.d.sync += in_state.eq(IDLE)
                with m.Else():
                    m.d.comb += [rej.eq(in_state == IN), write.eq(1)]
                    m.d.sync += [in_state.eq(IN), in_k.eq(1)]
            with m.Elif(in_state == IN):
                with m.If(in_k == n - 1):
                    with m.If(word.last):
                        m.d.comb += [write.eq(1), commit.eq(1)]
                        m.d.sync += in_state.eq(IDLE)
                    with m.Else():                 # too long
                        m.d.comb += [rej.eq(1), abort.eq(1)]
                        m.d.sync += in_state.eq(DROP)
                with m.Elif(word.last):            # too short
                    m.d.comb += [rej.eq(1), abort.eq(1)]
                    m.d.sync += in_state.eq(IDLE)
                with m.Else():
                    m.d.comb += write.eq(1)
                    m.d.sync += in_k.eq(in_k + 1)
            with m.Elif(in_state == IDLE):         # word 0 without first
                m.d.comb += rej.eq(1)
                m.d.sync += in_state.eq(Mux(word.last, IDLE, DROP))
            with m.Else():                         # rest of a counted malformed vector
                with m.If(word.last):
                    m.d.sync += in_state.eq(IDLE)

        m.d.comb += [
            buf.w_en.eq(write),
            buf.w_first.eq(first),
            buf.w_data.eq(word.data),
            buf.commit.eq(commit),
            buf.abort.eq(abort),
            amax.valid.eq(write),
            amax.first.eq(first),
            amax.data.eq(word.data),
            ks.ready.eq(commit),
            self.word_in.eq(accept),
            self.vector_done.eq(commit),
            self.vector_dropped.eq(rej != 0),
            self.ks_word.eq(ks.payload),
        ]
        with m.If(write):
            m.d.sync += acc_sum.eq(Mux(first, 0, acc_sum) + word.data)
        m.d.sync += [
            self.vectors_in.eq(self.vectors_in + commit),
            self.rejected.eq(self.rejected + rej),
        ]
        m.d.sync += pending.eq(pending + commit - pop)

        # ---- descriptor pipeline (never stalls; one vector per stage) ----------------------
        d1_valid = Signal()
        d1_r = Signal(32)
        m.d.sync += [d1_valid.eq(commit), d1_r.eq(ks.payload)]
        # D1: read the window/Δ row of class i; well-formed check.
        d2_valid, d2_idx, d2_pmax, d2_wf, d2_r = (
            Signal(), Signal(b), Signal(w), Signal(), Signal(32))
        m.d.comb += [params.win_addr.eq(amax.index), params.win_en.eq(1)]
        m.d.sync += [
            d2_valid.eq(d1_valid), d2_idx.eq(amax.index), d2_pmax.eq(amax.max),
            d2_wf.eq(acc_sum == one), d2_r.eq(d1_r),
        ]
        # D2: window comparison; Δ stage 1.
        m.d.comb += [
            window.value.eq(d2_pmax), window.alpha.eq(params.alpha), window.beta.eq(params.beta),
            delta.a.eq(params.a), delta.b.eq(params.b), delta.r.eq(d2_r[:16]),
            delta.valid.eq(d2_valid),
        ]
        d3_idx, d3_u, d3_wf = Signal(b), Signal(16), Signal()
        m.d.sync += [d3_idx.eq(d2_idx), d3_u.eq(d2_r[16:]), d3_wf.eq(d2_wf)]
        # D3: window result; Δ stage 2 (product).
        d4_idx, d4_u, d4_ok = Signal(b), Signal(16), Signal()
        m.d.sync += [d4_idx.eq(d3_idx), d4_u.eq(d3_u), d4_ok.eq(d3_wf & window.inside)]
        # D4: Δ; the descriptor goes into the queue.
        desc_in = data.View(desc_layout, queue.w_data)
        m.d.comb += [
            desc_in.idx.eq(d4_idx), desc_in.u.eq(d4_u), desc_in.delta.eq(delta.delta),
            desc_in.ok.eq(d4_ok),
            queue.w_en.eq(delta.valid_out),
        ]

        # ---- output side: O0 issue, O1 memory data, O2 alter, then the source register -----
        src = self.source
        adv = Signal()
        m.d.comb += adv.eq(~src.valid | src.ready)

        head = data.View(desc_layout, queue.r_data)
        o_k = Signal(range(n))       # next word to issue (0: between vectors)
        o_idx = Signal(b)
        starting = o_k == 0
        issue = Signal()
        cur_idx = Signal(b)
        m.d.comb += [
            issue.eq(adv & (~starting | queue.r_rdy)),
            pop.eq(issue & starting),
            queue.r_en.eq(pop),
            cur_idx.eq(Mux(starting, head.idx, o_idx)),
            buf.r_next.eq(issue),
            buf.r_en.eq(adv),
            params.c_cls.eq(cur_idx),
            params.c_index.eq(o_k),
            params.c_en.eq(adv),
        ]
        o1_valid, o1_first, o1_last, o1_is_i = Signal(), Signal(), Signal(), Signal()
        o1_u, o1_delta, o1_ok = Signal(16), Signal(w), Signal()
        with m.If(adv):
            m.d.sync += [
                o1_valid.eq(issue), o1_first.eq(starting), o1_last.eq(o_k == n - 1),
                o1_is_i.eq(o_k == cur_idx),
            ]
        with m.If(issue):
            m.d.sync += o_k.eq(Mux(o_k == n - 1, 0, o_k + 1))
        with m.If(pop):
            m.d.sync += [
                o_idx.eq(head.idx), o1_u.eq(head.u), o1_delta.eq(head.delta),
                o1_ok.eq(head.ok),
            ]

        # O1: buffer word and C[i][k] arrive; the sampler compares u < C[i][k].
        m.d.comb += [
            sampler.en.eq(adv & o1_valid),
            sampler.first.eq(o1_first),
            sampler.u.eq(o1_u),
            sampler.c.eq(params.c_data),
        ]
        o2_valid, o2_first, o2_last, o2_is_i = Signal(), Signal(), Signal(), Signal()
        o2_p, o2_delta, o2_ok = Signal(w), Signal(w), Signal()
        with m.If(adv):
            m.d.sync += [
                o2_valid.eq(o1_valid), o2_first.eq(o1_first), o2_last.eq(o1_last),
                o2_is_i.eq(o1_is_i), o2_p.eq(buf.r_data),
            ]
            with m.If(o1_valid & o1_first):
                m.d.sync += [o2_delta.eq(o1_delta), o2_ok.eq(o1_ok)]

        # O2: add/subtract into the output register.
        m.d.comb += [
            alter.en.eq(adv & o2_valid),
            alter.p.eq(o2_p),
            alter.is_i.eq(o2_is_i),
            alter.hit.eq(sampler.hit),
            alter.ok.eq(o2_ok),
            alter.delta.eq(o2_delta),
        ]
        out_first, out_last = Signal(), Signal()
        with m.If(adv):
            m.d.sync += [src.valid.eq(o2_valid), out_first.eq(o2_first), out_last.eq(o2_last)]
        m.d.comb += [
            src.payload.data.eq(alter.out),
            src.payload.first.eq(out_first),
            src.payload.last.eq(out_last),
            self.word_out.eq(src.valid & src.ready),
            self.vector_sent.eq(src.valid & src.ready & out_last),
        ]
        m.d.sync += self.vectors_out.eq(self.vectors_out + self.vector_sent)
        return m
