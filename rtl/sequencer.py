"""The unit's output side: reads each vector back, draws Δ and j, alters two words."""

from amaranth import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .alter import AlterStage, MacAlterStage
from .counter import SplitCounter
from .delta import DeltaGen
from .family import fpga_family
from .layouts import descriptor_layout, word_layout
from .param_store import TableReadSignature, class_bits
from .sampler import Sampler
from .skid import SkidBuffer
from .vector_buffer import BufferReadSignature
from .window import Window

__all__ = ["OutputSequencer"]


class OutputSequencer(wiring.Component):
    """Streams each complete vector out of the buffer, altered per SPEC §7–§9.

    What it does
        For each descriptor (class index i, maximum p_i, well formed) it reads the vector's
        words and the thresholds ``C[i][k]`` back, word by word; with word 0 it reads the
        window/Δ row of class i and takes one keystream word ``R`` (``r = R & 0xFFFF`` for Δ,
        ``u = R >> 16`` for j). The pipeline (all stages advance together on ``adv``, a
        register from the skid buffer, so ``source.ready`` reaches no enable)::

            stage  cycle (word k)  what happens
            O0     X+k     issue word k: read buffer[k] and C[i][k]; word 0 also reads the
                           window/Δ row of class i and takes the descriptor
            O1     X+1+k   block RAM outputs → registers; sampler registers u < C[i][k].
                           Word 0: ``wf`` of its vector arrives (registered in O1 unless
                           word 0 leaves O1 at once)
                           Word 0: keystream word taken (``head1``, a register; r and
                           b − a into the Δ generator's input registers, u held), window
                           test alpha < p_i < beta registered
            O2     X+2+k   sampler flags k == j (one LUT from registers); the alter stage
                           registers the word's role and p ± a (or p). Word 0: the
                           product r·(b − a) is registered (hi, held; on the iCE40
                           Δ = a + hi, the add in the same DSP, and the alter stage
                           registers p and its factor f ∈ {0, 1, −1})
            O3     X+3+k   alter: (p ± a) ± hi, or p + 0 → output (or skid) register
                           (iCE40: p + Δ·f in a second DSP, whose output register is
                           the skid buffer's word0)
            out    X+4+k   on ``source``

        With a descriptor offered in the cycle after the vector's last word (X = T+1), the
        first word is out at T+5: latency N + 4 from the first word in. Values that belong to
        the whole vector are registered as its word 0 passes a stage and hold for its other
        words.

    Interface
        ``descriptor`` (``In(stream.Signature(descriptor_layout(N, W)))``); ``wf`` (in: the
        vector of the descriptor taken in the previous cycle is well formed; the framer's
        ``wf``, read in the cycle after each take only); ``keystream``
        (``In(stream.Signature(32))``, ``ready`` a register: ``head1``); ``buf``
        (``Out(BufferReadSignature(W))``), ``tables`` (``Out(TableReadSignature(N, W))``):
        the block RAM read ports; ``source`` (``Out(stream.Signature(word_layout(W)))``);
        ``vectors_out`` (32 bits, wraps; one cycle after the last word's handshake); strobes
        ``word_out``, ``vector_sent``, ``ks_take`` (see ``ProbeSignature``).

    Invariants
        One keystream word per descriptor, taken as its word 0 leaves O1, and a word must be
        on offer then (the Trivium refills in 32/bits ≤ N cycles). ``source`` follows the
        ``lib.stream`` rules (registers; payload stable while ``valid & ~ready``).
    """

    #: Δ made whole by one DSP and added by another (:class:`MacAlterStage`): None = on the
    #: iCE40 only (tests set True to simulate that form without a platform)
    whole_delta: bool | None = None

    def __init__(self, classes: int, width: int, alter_stage: type = AlterStage):
        self.classes, self.width = classes, width
        self.alter_stage = alter_stage
        super().__init__({
            "descriptor": In(stream.Signature(descriptor_layout(classes, width))),
            "wf": In(1),
            "keystream": In(stream.Signature(32)),
            "buf": Out(BufferReadSignature(width)),
            "tables": Out(TableReadSignature(classes, width)),
            "source": Out(stream.Signature(word_layout(width))),
            "vectors_out": Out(32),
            "word_out": Out(1),
            "vector_sent": Out(1),
            "ks_take": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        n, w = self.classes, self.width
        b = class_bits(n)
        m.submodules.window = window = Window(w)
        # iCE40 (W ≤ 16, the standard alter stage): Δ = a + hi added in the multiplier's DSP,
        # and the alter stage is p + Δ·f in a second DSP (MacAlterStage) whose output
        # register is the skid buffer's word0: no carry chain on the output side. Elsewhere
        # (ECP5: no post-adder behind the registered multiplier there; tests' substituted
        # alter stages) a and hi stay apart.
        whole = self.whole_delta
        if whole is None:
            whole = fpga_family(platform) == "ice40"
        whole = whole and w <= 16 and self.alter_stage is AlterStage
        m.submodules.delta = delta = DeltaGen(w, whole=whole)
        m.submodules.sampler = sampler = Sampler(n)
        m.submodules.alter = alter = (MacAlterStage(w) if whole
                                      else self.alter_stage(w))
        m.submodules.skid = skid = SkidBuffer(word_layout(w))
        desc, ks, tab, buf = self.descriptor, self.keystream, self.tables, self.buf
        adv = skid.advance

        # O0: issue.
        # iCE40 (and no platform: what the proofs check): `o_idx` holds the class index of the
        # vector being issued, and while none is (at `starting`) that of the descriptor on
        # offer once it has been there a cycle (the queue's slot: it loads whatever is on
        # offer then). So the block-RAM read addresses choose between `o_idx` and an arriving
        # descriptor's index (`fresh`) with registers only: one LUT of `starting`, the queue's
        # `fresh`, `o_idx` and the argmax's (one-LUT) index. On the ECP5 (tables in LUT RAM,
        # no such path) `o_idx` loads on the take only and the choice is the plain one.
        hold = fpga_family(platform) != "ecp5"
        o_k = Signal(range(n))               # next word to issue
        o_idx = Signal(b, reset_less=True)   # (read only after a load; no reset on its enable)
        starting = Signal(init=1)            # register: o_k == 0
        issue, pop = Signal(), Signal()
        pop_r = Signal()                     # a descriptor was taken last cycle: `wf` is its
        cur_idx = Signal(b)
        m.d.comb += [
            issue.eq(adv & (~starting | desc.valid)),
            pop.eq(issue & starting),
            desc.ready.eq(adv & starting),     # registers only (pop == ready & valid)
            cur_idx.eq(Mux(starting & (desc.payload.fresh if hold else 1),
                           desc.payload.index, o_idx)),
            buf.next.eq(issue), buf.en.eq(adv),
            tab.c_cls.eq(cur_idx), tab.c_index.eq(o_k), tab.c_en.eq(adv),
            tab.win_addr.eq(cur_idx if hold else desc.payload.index), tab.win_en.eq(pop),
        ]
        with m.If(issue):
            m.d.sync += [o_k.eq(Mux(o_k == n - 1, 0, o_k + 1)), starting.eq(o_k == n - 1)]
        with m.If((starting | (issue & (o_k == n - 1))) if hold else pop):
            m.d.sync += o_idx.eq(desc.payload.index)
        m.d.sync += pop_r.eq(pop)

        # O0 → O1
        o1_valid, o1_first, o1_last = Signal(), Signal(), Signal()
        o1_k, o1_idx = Signal(range(n)), Signal(b)   # compared in O1 (off the issue path)
        # The maximum is kept inverted: the window compares with ~value, which is then this
        # register itself (no inverter LUT in front of its carry chains).
        o1_max_n = Signal(w, reset_less=True)
        o1_wf = Signal(reset_less=True)
        with m.If(adv):
            m.d.sync += [o1_valid.eq(issue), o1_first.eq(starting), o1_last.eq(o_k == n - 1),
                         o1_k.eq(o_k), o1_idx.eq(cur_idx)]
            with m.If(pop):
                m.d.sync += o1_max_n.eq(~desc.payload.max)
        # `wf` follows its descriptor a cycle later: into O1 while word 0 is there (the cycle
        # after the take), or straight into O2 if word 0 leaves O1 in that cycle.
        with m.If(pop_r):
            m.d.sync += o1_wf.eq(self.wf)

        # O1 → O2: block RAM outputs into registers; word 0 takes the keystream word.
        # `head1`: word 0 leaves O1 this cycle (adv & o1_valid & o1_first), a register of its
        # own: its input is that AND of the three registers' next values (`advance_next` from
        # the skid buffer, and O1's valid/first as the `adv` branch above loads them), so the
        # keystream's `ready` and the vector-wide registers' enables below are flip-flop
        # outputs (`source.ready` reaches head1's input through one LUT in the skid buffer,
        # never an enable).
        head1 = Signal()
        m.d.sync += head1.eq(skid.advance_next & Mux(adv, issue & starting, o1_valid & o1_first))
        o2_valid, o2_first, o2_last, o2_is_i = Signal(), Signal(), Signal(), Signal()
        o2_p = Signal(w, reset_less=True)
        o2_u = Signal(16, reset_less=True)
        o2_a = Signal(w, reset_less=True)
        o2_wf = Signal(reset_less=True)
        m.d.comb += [
            ks.ready.eq(head1), self.ks_take.eq(head1),
            window.value.eq(~o1_max_n), window.alpha.eq(tab.alpha), window.beta.eq(tab.beta),
            window.en.eq(head1),
            delta.a.eq(tab.a), delta.b.eq(tab.b), delta.r.eq(ks.payload[:16]),
            delta.load.eq(head1),
        ]
        with m.If(adv):
            m.d.sync += [o2_valid.eq(o1_valid), o2_first.eq(o1_first), o2_last.eq(o1_last),
                         o2_is_i.eq(o1_k == o1_idx), o2_p.eq(buf.data)]
        with m.If(head1):
            m.d.sync += [o2_u.eq(ks.payload[16:]), o2_a.eq(tab.a),
                         o2_wf.eq(Mux(pop_r, self.wf, o1_wf))]

        # O2 → O3: sampler and alter stage take the word; word 0 fires the product.
        o3_valid, o3_first, o3_last = Signal(), Signal(), Signal()
        m.d.comb += [
            delta.fire.eq(adv & o2_valid & o2_first),
            # The sampler compares in O1 (straight from the C table's output) and flags the
            # word in O2.
            sampler.en.eq(adv), sampler.first.eq(o1_first),
            sampler.u_head.eq(ks.payload[16:]), sampler.u.eq(o2_u), sampler.c.eq(tab.c_data),
            # (ECP5: the whole C row and the class; see param_store.c_table_by_index)
            sampler.c_row.eq(tab.c_row), sampler.cls.eq(o1_idx),
            alter.en.eq(adv & o2_valid), alter.p.eq(o2_p),
            alter.is_i.eq(o2_is_i), alter.ok.eq(o2_wf & window.inside),
            alter.hit.eq(sampler.hit_now),
        ]
        if not whole:
            m.d.comb += alter.a.eq(o2_a)
        with m.If(adv):
            m.d.sync += [o3_valid.eq(o2_valid), o3_first.eq(o2_first), o3_last.eq(o2_last)]

        # O3 → output register (or skid register).
        m.d.comb += [
            (alter.delta.eq(delta.delta) if whole else alter.hi.eq(delta.hi)),
            skid.i_valid.eq(o3_valid),
            skid.i_payload.data.eq(alter.out),
            skid.i_payload.first.eq(o3_first),
            skid.i_payload.last.eq(o3_last),
        ]
        wiring.connect(m, skid.source, wiring.flipped(self.source))
        src = self.source
        m.d.comb += [
            self.word_out.eq(src.valid & src.ready),
            self.vector_sent.eq(src.valid & src.ready & src.payload.last),
        ]
        sent_r = Signal()
        m.d.sync += sent_r.eq(self.vector_sent)
        m.submodules.vectors_out = n_out = SplitCounter(32, 1)
        m.d.comb += [n_out.inc.eq(sent_r), self.vectors_out.eq(n_out.value)]
        return m

