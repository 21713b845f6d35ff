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

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .alter import AlterStage
from .descriptor import DescriptorQueue
from .family import fpga_family
from .framer import InputFramer, lut
from .layouts import word_layout
from .param_store import ConfigSignature, ParamStore
from .sequencer import OutputSequencer
from .trivium import Trivium
from .vector_buffer import VectorBuffer

__all__ = ["WatermarkUnit", "ProbeSignature", "word_layout", "LATENCY_EXTRA"]

#: latency − N: from the cycle a vector's first word is accepted to the first cycle its first
#: output word is valid is N + LATENCY_EXTRA cycles (output not back-pressured).
LATENCY_EXTRA = 4


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
        Write the key/IV words and the tables (``config_writes()`` gives the list; each write
        lands one cycle after it is presented), then pulse ``config.start`` (at the earliest in
        the cycle after the last key/IV write): it reaches the Trivium a cycle later (two when
        presented right after a key/IV write), which takes it in one cycle, loads key and IV in
        ``⌈111/bits⌉``, warms up in ``1152/bits`` and fills the first keystream word in
        ``32/bits`` (``bits`` = Trivium clocks per cycle, default the smallest power of two
        ≥ 32/N, at most 16): ``config.running`` rises ``2 + ⌈111/bits⌉ + 1184/bits`` clock
        edges after the one that samples ``config.start`` (N = 10 → 4 bits: 326, of which 325
        in the Trivium), and ``sink.ready`` may rise. The keystream position (vector number 0)
        is counted from that start. A start is refused unless all five key/IV words were
        written since the last start (or reset); a key/IV write stops the keystream
        (``running`` falls).
        ``config.lock`` refuses writes and starts until reset. Reset stops the keystream,
        clears the lock and the counters and drops every vector in flight; the tables keep
        their contents, the key must be written again. Configure only while no vector is in
        flight.

    Throughput and latency
        One word per clock sustained: with ``source.ready`` high and words offered every cycle,
        a new vector enters every N cycles with no bubble between vectors, and leaves every N
        cycles (N cycles per vector). Latency: the first output word of a vector is valid
        ``N + 4`` cycles after its first input word is accepted (``LATENCY_EXTRA`` = 4); the
        same holds last word to last word (tests/test_rtl_unit.py checks N = 2, 3, 4, 10, 16).
        Back-pressure: the sink stalls only when a complete vector already waits for the
        output side (``queue_depth`` = 1), i.e. when the source has been stalled (for N ≥ 3
        it resumes one cycle after that vector is taken: the take does not reach
        ``sink.ready``), and for two cycles after a write to the key space of ``config``; the
        buffer (``buffer_depth`` = 2^ceil(log2(3N+2)) words) holds every word that can then be
        in flight.

    Structure (components joined with ``wiring.connect``; T = the cycle the last word of a
    vector is accepted)::

        sink ─▶ InputFramer ──buf.write──▶ VectorBuffer ──buf.read──▶ OutputSequencer ─▶ source
                 (framing, argmax, sum,                               (O0–O3, skid)
                  vectors_in, rejected)                                  ▲       ▲
                     │ descriptor (T+1)                                  │       │ keystream
                     └──────▶ DescriptorQueue (1 slot, bypass) ─────────┘    Trivium
        config ─▶ ParamStore (tables: read by OutputSequencer; key/IV → Trivium)

        T      last word accepted: written into the buffer, folded into the argmax and sum
        T+1    descriptor (i, p_i) from the argmax's registers; issued at once (O0) or
               kept in the queue's slot while the output side is stalled; sum == ONE
               registered in two halves
        T+2    wf (sum == ONE) from the framer to the sequencer, as word 0 sits in O1
        T+2…   O1–O3 per word (see :class:`~dynamarks.rtl.sequencer.OutputSequencer`)
        T+5    first word on ``source``; the counters count one cycle after their event

    Parameters
        ``classes`` N (2 ≤ N ≤ 64; every N in that range runs at full rate), ``width`` W
        (SPEC: 10 ≤ W ≤ 24; W > 16 uses two DSP tiles for Δ); ``trivium_bits`` (power of
        two ≤ 16, 32/trivium_bits ≤ N); ``external_keystream`` replaces the Trivium by a
        ``keystream`` input stream of 32-bit words (for formal proofs; ``config.running`` is
        then 1 and the harness must offer a word whenever ``keystream.ready`` is high).

    Observation interface
        ``probe`` (:class:`ProbeSignature`): internal strobes for proofs and tests — handshakes,
        vectors done/dropped/sent, keystream takes. Not ports. With ``external_keystream`` the
        harness must keep ``keystream.valid`` high whenever ``probe.ks_take`` can occur
        (simplest: always).
    """

    #: the alter stage's and the output sequencer's classes (tests substitute deliberately
    #: broken ones)
    alter_stage: type[AlterStage] = AlterStage
    output_sequencer: type[OutputSequencer] = OutputSequencer

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
        #: descriptor slots: complete vectors waiting for the output side (which takes a
        #: vector in the cycle after its last word unless the source has been stalled)
        self.queue_depth = 1
        #: circular buffer depth (words): more than the most it can hold, (queue_depth + 2)·N
        #: − 1 (complete vectors waiting, one being read and one being received), so it is
        #: never full (the framer's limit on waiting vectors is the only back-pressure)
        self.buffer_depth = 1 << ceil_log2((self.queue_depth + 2) * classes + 2)
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
        m.submodules.params = params = ParamStore(n, w)
        m.submodules.buffer = buf = VectorBuffer(w, self.buffer_depth, n)
        m.submodules.framer = framer = InputFramer(n, w, self.queue_depth)
        m.submodules.queue = queue = DescriptorQueue(n, w)
        m.submodules.sequencer = seq = self.output_sequencer(n, w, self.alter_stage)
        if self.external_keystream:
            ks, running = self.keystream, 1
        else:
            m.submodules.trivium = triv = Trivium(self.trivium_bits)
            m.d.comb += [
                triv.key_we.eq(params.key_we), triv.key_addr.eq(params.key_addr),
                triv.key_data.eq(params.key_data), triv.start.eq(params.start),
            ]
            ks, running = triv.keystream, triv.running

        # Configuration: the store decodes the port; key/IV words go on to the Trivium.
        cfg = self.config
        m.d.comb += [
            params.cfg_addr.eq(cfg.addr), params.cfg_data.eq(cfg.data),
            params.cfg_we.eq(cfg.we), params.cfg_start.eq(cfg.start),
            params.cfg_lock.eq(cfg.lock),
            cfg.locked.eq(params.locked), cfg.running.eq(running),
        ]

        key_write_r = Signal()      # a write to the key space (or space 3) last cycle
        m.d.sync += key_write_r.eq(cfg.we & cfg.addr[-1])

        # Words in → framer → buffer (words) and descriptor queue → sequencer → words out.
        wiring.connect(m, wiring.flipped(self.sink), framer.sink)
        wiring.connect(m, framer.buf, buf.write)
        wiring.connect(m, framer.descriptor, queue.sink)
        wiring.connect(m, queue.source, seq.descriptor)
        wiring.connect(m, seq.buf, buf.read)
        wiring.connect(m, seq.tables, params.read)
        wiring.connect(m, seq.source, wiring.flipped(self.source))
        # The keystream: one word per vector, offered whenever taken (the Trivium refills a
        # word in 32/bits ≤ N cycles; the tests check `ks_valid` at each take).
        m.d.comb += [
            seq.keystream.valid.eq(ks.valid), seq.keystream.payload.eq(ks.payload),
            ks.ready.eq(seq.keystream.ready),
            framer.taken.eq(queue.source.valid & queue.source.ready),
            seq.wf.eq(framer.wf),
        ]

        # No word is accepted in the two cycles after a key/IV write (the Trivium sees it a
        # cycle later and stops the keystream in the cycle after that). A write to the key
        # space or the unused space 3 (the address's top bit) stands in for the full decode
        # of `key_we` (lock, word range): one LUT of the port, `key_write_r` and `running`
        # (an SB_LUT4 of its own on the iCE40, one level before sink.ready's LUT); a refused
        # write there only holds the sink for two cycles.
        enable_ins = (cfg.we, cfg.addr[-1], key_write_r)
        if not self.external_keystream:
            enable_ins += (running,)
        lut(m, fpga_family(platform) == "ice40", "enable_lut",
            lambda we, top, kw, *run: ((we & top) ^ 1) & (kw ^ 1) & (run[0] if run else 1),
            enable_ins, framer.enable)

        m.d.comb += [
            self.vectors_in.eq(framer.vectors_in), self.rejected.eq(framer.rejected),
            self.vectors_out.eq(seq.vectors_out),
        ]
        probe = self.probe
        m.d.comb += [
            probe.word_in.eq(framer.word_in), probe.vector_done.eq(framer.vector_done),
            probe.vector_dropped.eq(framer.vector_dropped),
            probe.word_out.eq(seq.word_out), probe.vector_sent.eq(seq.vector_sent),
            probe.ks_take.eq(seq.ks_take), probe.ks_word.eq(ks.payload),
            probe.ks_valid.eq(ks.valid),
        ]
        return m
