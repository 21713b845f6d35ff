"""The unit's input side: wire framing, buffer writes, argmax and sum, input counters."""


from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .argmax import Argmax
from .counter import SplitCounter
from .family import fpga_family
from .ice40_lut import lut
from .layouts import descriptor_layout, word_layout
from .vector_buffer import BufferWriteSignature

__all__ = ["InputFramer"]


class InputFramer(wiring.Component):
    """Checks the framing of the input words, writes them into the vector buffer and produces
    one descriptor per well-framed vector.

    What it does (SPEC §10; the framing table is in ``WatermarkUnit``'s docstring)
        Each accepted word of a vector goes into the buffer at once (``buf``, at its position
        ``pos`` after the vector's start); a malformed vector is left uncommitted (the next
        vector overwrites it) and counted in ``rejected``; a complete one is committed and
        counted in ``vectors_in``. The argmax and the sum follow every word; in
        the cycle after the last word (T+1) their final values are the vector's descriptor,
        offered on ``descriptor`` for that one cycle; whether the sum is ONE is registered
        then and offered as ``wf`` from T+2.

    Interface
        ``sink`` (``In(stream.Signature(word_layout(W)))``); ``enable`` (in: the keystream
        runs and no key write lands, so words may be accepted); ``buf``
        (``Out(BufferWriteSignature(W, N))``); ``descriptor`` (out, one-cycle ``valid``, see
        :class:`~dynamarks.rtl.descriptor.DescriptorQueue`); ``taken`` (in: the output side
        took a descriptor this cycle); ``wf`` (out: the vector of the last descriptor offered is
        well formed, its sum is ONE; valid from the cycle after that descriptor until the
        cycle of the next one, inclusive — a descriptor waits while another is pending, so
        ``wf`` is still its own in the cycle after the output side takes it); counters
        ``vectors_in``, ``rejected`` (32 bits, wrap);
        strobes ``word_in``, ``vector_done``, ``vector_dropped`` (see ``ProbeSignature``).

    Latency
        Descriptor in T+1 (T = the cycle the last word is accepted), ``wf`` from T+2; counters
        one cycle after their event.

    Invariants
        ``sink.ready`` is a register. At most ``queue_depth`` complete vectors wait for the
        output side: a word that could complete another one is not accepted until one is
        taken (for N ≥ 3 from the cycle after the take: the take does not reach
        ``sink.ready``). So the buffer holds at most ``(queue_depth + 2)·N − 1`` words
        (those waiting, the vector being read and the one being received), which the unit's
        buffer depth exceeds: the buffer needs no fill level.
    """

    def __init__(self, classes: int, width: int, queue_depth: int = 1):
        self.classes, self.width, self.queue_depth = classes, width, queue_depth
        super().__init__({
            "sink": In(stream.Signature(word_layout(width))),
            "enable": In(1),
            "buf": Out(BufferWriteSignature(width, classes)),
            "descriptor": Out(stream.Signature(descriptor_layout(classes, width),
                                               always_ready=True)),
            "taken": In(1),
            "wf": Out(1),
            "vectors_in": Out(32),
            "rejected": Out(32),
            "word_in": Out(1),
            "vector_done": Out(1),
            "vector_dropped": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        n, w, q = self.classes, self.width, self.queue_depth

        # Framing state, one-hot: IN (`in_vec`, with `in_k` words so far and `at_end` ==
        # (in_k == N−1)), DROP (`dropping`), IDLE (neither).
        in_vec = Signal()
        dropping = Signal()
        in_k = Signal(range(n))         # words of the vector so far (also the argmax's `count`)
        at_end = Signal()
        pen = Signal(init=(n == 2))     # register: in_k == N−2 (off the sink.ready path)
        m.submodules.argmax = amax = Argmax(n, w, count=in_k)
        # The sum of the words since `first` (N words of W bits: no wrap), in two halves: the
        # low half's carry is registered (`acc_c`) and added into the high half with the next
        # word, so no carry chain is longer than about half the sum. The sum is
        # acc_lo + (acc_hi + acc_c)·2^s.
        sum_bits = w + ceil_log2(n)
        s = min((sum_bits + 1) // 2, w)
        acc_lo = Signal(s)
        acc_hi = Signal(sum_bits - s)
        acc_c = Signal()
        pending = Signal(range(q + 1))  # complete vectors whose descriptor is not yet taken
        ready_r = Signal()              # sink.ready, a register

        sink, word = self.sink, self.sink.payload
        accept, first, last = Signal(), Signal(), Signal()
        write, commit = Signal(), Signal()
        rej = Signal(2)
        m.d.comb += [
            sink.ready.eq(ready_r),
            accept.eq(sink.valid & sink.ready),
            first.eq(word.first),
            last.eq(word.last),
        ]
        # The framing rules as flat equations (functions of accept, first, last and the
        # one-hot state). `ready_end` == ready_r & in_vec & at_end is a register of its own, so
        # that the buffer's write enable and the commit (the enable of its base pointer) are
        # each one LUT from the sink (an SB_LUT4 of its own on the iCE40: see `lut`).
        ready_end = Signal()
        pos = Signal(range(n))                  # the word's position in its vector
        m.d.comb += [
            pos.eq(Mux(first, 0, in_k)),
            # Every word of a vector being received goes into the buffer, also those of one
            # that turns out malformed (at its position, in the space of the vector being
            # received: harmless, as that vector is never committed).
        ]
        ice40 = fpga_family(platform) == "ice40"
        valid = sink.valid
        lut(m, ice40, "write_lut", lambda va, r, f, iv: va & r & (f | iv),
            (valid, ready_r, first, in_vec), write)
        lut(m, ice40, "commit_lut", lambda va, f, la, re: va & (f ^ 1) & la & re,
            (valid, first, last, ready_end), commit)
        # Registers the sink word reaches (`rej_r`, `dropping`, `ready_r`, `ready_end`,
        # `at_end_in`) are two LUT levels from it: LUTs of the word's flags, `valid`,
        # `ready_r` and the state, then one LUT per register, packed with its flip-flop. On the
        # iCE40 each is an SB_LUT4 of its own (`lut`): the synthesiser would otherwise build
        # them on the shared `accept` and the argmax's nets, a level deeper.
        # v == ~accept | (~first & ~last): no word, or one that neither starts nor ends a vector
        v = Signal()
        lut(m, ice40, "v_lut", lambda va, r, f, la: ((va & r) ^ 1) | ((f ^ 1) & (la ^ 1)),
            (valid, ready_r, first, last), v)
        # rejected += rej (0, 1 or 2), counted from `rej_r`:
        #   first:    (first & in_vec) + (first & last)     → rej[1] = in_vec & last,
        #                                                      rej[0] = in_vec ^ last
        #   no first: cont & (at_end != last) + (~in_vec & ~dropping)  (at most one is 1)
        rej_two, rej_a, rej_b = Signal(), Signal(), Signal()
        lut(m, ice40, "rej_two_lut", lambda f, iv, la: f & iv & la, (first, in_vec, last), rej_two)
        lut(m, ice40, "rej_a_lut",
            lambda f, iv, la, ae: (f & (iv ^ la)) | ((f ^ 1) & iv & (ae ^ la)),
            (first, in_vec, last, at_end), rej_a)
        lut(m, ice40, "rej_b_lut", lambda f, iv, d: (f ^ 1) & (iv ^ 1) & (d ^ 1),
            (first, in_vec, dropping), rej_b)
        lut(m, ice40, "rej0_lut", lambda va, r, a, b: va & r & (a | b),
            (valid, ready_r, rej_a, rej_b), rej[0])
        lut(m, ice40, "rej1_lut", lambda va, r, t: va & r & t, (valid, ready_r, rej_two), rej[1])
        # DROP after a too-long vector or a stray word without `last`; left on `last` or
        # `first`: dropping ← accept ? ~first & ~last & (dropping | ~in_vec | at_end) : dropping,
        # as drop_go ? drop_c : (v & dropping) with drop_go == accept & ~first & ~last.
        drop_go, drop_c, drop_next = Signal(), Signal(), Signal()
        lut(m, ice40, "drop_go_lut", lambda va, r, f, la: va & r & (f ^ 1) & (la ^ 1),
            (valid, ready_r, first, last), drop_go)
        lut(m, ice40, "drop_c_lut", lambda d, iv, ae: d | (iv ^ 1) | ae,
            (dropping, in_vec, at_end), drop_c)
        lut(m, ice40, "drop_lut", lambda g, c, vv, d: (g & c) | ((g ^ 1) & vv & d),
            (drop_go, drop_c, v, dropping), drop_next)
        m.d.sync += dropping.eq(drop_next)
        in_vec_next, at_end_next, pen_next = Signal(), Signal(), Signal()
        # pen ← accept ? (first ? N == 3 : in_k + 1 == N − 2) : pen, from a net of the
        # registers alone (`pen_hit`), not behind the word's position `pos`: one LUT of the
        # sink (`pen_go`) and one packed with the flip-flop.
        pen_hit, pen_go, pen_d = Signal(), Signal(), Signal()
        m.d.comb += [
            pen_hit.eq((in_k + 1)[:len(in_k)] == n - 2),
            pen_next.eq(Mux(first, n == 3, pen_hit)),
        ]
        lut(m, ice40, "pen_go_lut",
            lambda va, r, f, h: va & r & ((f & int(n == 3)) | ((f ^ 1) & h)),
            (valid, ready_r, first, pen_hit), pen_go)
        lut(m, ice40, "pen_lut", lambda va, r, g, p: g | (((va & r) ^ 1) & p),
            (valid, ready_r, pen_go, pen), pen_d)
        m.d.sync += pen.eq(pen_d)
        m.d.comb += [
            # IN after `first` without `last`, or a word before the last one of a vector.
            in_vec_next.eq(Mux(accept, ~last & (first | (in_vec & ~at_end)), in_vec)),
            at_end_next.eq(Mux(accept, Mux(first, n == 2, pen), at_end)),
        ]
        m.d.sync += [in_vec.eq(in_vec_next), at_end.eq(at_end_next)]
        with m.If(accept):
            m.d.sync += [
                in_k.eq(pos + 1),
            ]
        # The sum: two carry chains from the sink, each adding the word's half to the old
        # half even with `first` (the choice is made after the chain, in each bit's sum LUT,
        # whose fourth input it is: one logic cell per bit). The high chain takes the carry
        # in through its lowest bit: (2·hi + 1) + (2·word_hi + c) = 2·(hi + word_hi + c) + 1.
        lo_sum = Signal(s + 1)
        word_hi = word.data[s:] if s < w else Const(0, 1)
        hi_sum = Signal(len(acc_hi) + 1)
        m.d.comb += [
            lo_sum.eq(acc_lo + word.data[:s]),
            hi_sum.eq(Cat(Const(1, 1), acc_hi) + Cat(acc_c, word_hi)),
        ]
        with m.If(accept):
            m.d.sync += [
                acc_lo.eq(Mux(first, word.data[:s], lo_sum[:s])),
                acc_c.eq(~first & lo_sum[s]),
                acc_hi.eq(Mux(first, word_hi, hi_sum[1:])),
            ]
        m.d.comb += [
            self.buf.en.eq(write), self.buf.pos.eq(pos), self.buf.data.eq(word.data),
            self.buf.commit.eq(commit),
            # The argmax follows every accepted word: words of a malformed vector disturb it,
            # but such a vector never completes, and the next vector restarts it with `first`.
            amax.valid.eq(accept), amax.first.eq(first), amax.data.eq(word.data),
            self.word_in.eq(accept), self.vector_done.eq(commit),
            self.vector_dropped.eq(rej != 0),
        ]

        # T+1: the descriptor, from the argmax's registers. The final sum is compared with ONE
        # in two halves, each registered at T+1 (`wf_lo`: the low half equal; `wf_hi`: the
        # high half plus the pending carry equal), and `wf` is their AND from T+2: the output
        # side needs it only as the vector's word 0 leaves O1 (T+2 at the earliest), and no
        # other vector commits before the output side has taken this one's descriptor.
        one_lo, one_hi = (1 << (w - 1)) & ((1 << s) - 1), (1 << (w - 1)) >> s
        hi_if_carry = (acc_hi == one_hi - 1) if one_hi else Const(0, 1)
        commit_r, rej_r = Signal(), Signal(2)
        wf_lo, wf_hi = Signal(), Signal()
        m.d.sync += [commit_r.eq(commit), rej_r.eq(rej)]
        with m.If(commit_r):
            m.d.sync += [wf_lo.eq(acc_lo == one_lo),
                         wf_hi.eq(Mux(acc_c, hi_if_carry, acc_hi == one_hi))]
        d = self.descriptor
        m.d.comb += [
            d.valid.eq(commit_r),
            d.payload.index.eq(amax.index_last),
            d.payload.max.eq(amax.max_next),
            d.payload.fresh.eq(1),
            self.wf.eq(wf_lo & wf_hi),
        ]
        # Counters count one cycle after the event (registered strobes: the carry chains stay
        # off the handshake paths; each 32-bit counter is two 16-bit chains).
        m.submodules.vectors_in = n_in = SplitCounter(32, 1)
        m.submodules.rejected = n_rej = SplitCounter(32, 2)
        m.d.comb += [
            n_in.inc.eq(commit_r), self.vectors_in.eq(n_in.value),
            n_rej.inc.eq(rej_r), self.rejected.eq(n_rej.value),
        ]
        # sink.ready for the next cycle, from registers and this cycle's events only: enabled
        # and, if the next word could complete a vector (`end_next`, i.e. in_vec_next &
        # at_end_next), there is room for its descriptor. A commit leaves IN, so `end_next`
        # excludes it and the room is ~pending | taken. `near` == in_vec & ~at_end & pen and
        # `at_end_in` == in_vec & at_end are registers of their own.
        near, at_end_in = Signal(), Signal()
        end_next = Signal()
        pending_next = Signal(range(q + 2))
        m.d.comb += pending_next.eq(pending + commit - self.taken)
        # `enable` (a LUT of the config port and `running`) is kept as a net of its own, so
        # that the synthesiser does not spread it over the LUTs behind `end_next`.
        enable = Signal(attrs={"keep": 1})
        m.d.comb += enable.eq(self.enable)
        ready_next, ready_end_next = Signal(), Signal()
        if n >= 3:
            # Two LUT levels from the sink word and the config port to `ready_r`, `ready_end`
            # and `at_end_in`: end_next == u & v with u == (accept ? near : at_end_in) and
            # v == (~accept | (~first & ~last)) (for N ≥ 3 a `first` word never ends a vector
            # next cycle), nets of their own beside `enable`; then each register's LUT takes
            # four inputs (`enable`, `pending`, u, v) and is packed with its flip-flop.
            # Room is `~pending` from the register alone (the output side's take of this
            # cycle is left out, so after a stall the sink resumes one cycle after the take):
            # the take is then off the sink.ready path. A vector's descriptor is taken in the
            # cycle after its last word unless the source has been stalled, so with N ≥ 3
            # `pending` is back to its old value before the next vector's last word can
            # arrive: no bubble while the output flows.
            u, full = Signal(), Signal()
            m.d.comb += full.eq(pending >= q)
            lut(m, ice40, "u_lut", lambda va, r, nr, ae: (va & r & nr) | (((va & r) ^ 1) & ae),
                (valid, ready_r, near, at_end_in), u)
            lut(m, ice40, "ready_lut", lambda e, fu, uu, vv: e & ((fu & uu & vv) ^ 1),
                (enable, full, u, v), ready_next)
            lut(m, ice40, "ready_end_lut", lambda e, fu, uu, vv: e & (fu ^ 1) & uu & vv,
                (enable, full, u, v), ready_end_next)
            lut(m, ice40, "end_lut", lambda uu, vv: uu & vv, (u, v), end_next)
        else:
            # N = 2: the next last word comes one cycle after the take, so the take counts.
            room = (pending_next < q) if q > 1 else (~pending | self.taken)
            m.d.comb += [
                end_next.eq(Mux(accept, ~last & first, at_end_in)),
                ready_next.eq(enable & (~end_next | room)),
                ready_end_next.eq(ready_next & end_next),
            ]
        m.d.sync += [
            pending.eq(pending_next),
            ready_r.eq(ready_next),
            ready_end.eq(ready_end_next),
            near.eq(in_vec_next & ~at_end_next & Mux(accept, pen_next, pen)),
            at_end_in.eq(end_next),
        ]
        return m
