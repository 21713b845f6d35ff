"""Streaming argmax with SPEC §4's tie rule (lowest index wins)."""

from amaranth import Cat, Const, Instance, Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .family import fpga_family
from .ice40_lut import lut_init

__all__ = ["Argmax"]


class Argmax(wiring.Component):
    """Running maximum and its index over the words of a vector, one word per cycle.

    What it does
        For each word presented with ``valid`` (``first`` marks word 0 of a vector) it folds the
        word into the result: word 0 is taken unconditionally; a later word ``k`` replaces the
        maximum only if it is strictly greater, so ties keep the lowest index
        (``i = min{k : p[k] == max(p)}``, exactly ``numpy.argmax``).

        The maximum is held inverted (``nmax = ~max``), so that ``data > max`` is the carry out
        of ``data + nmax`` (no inverter LUT in front of the carry chain) and a taken word is
        stored as ``~data``. On the ECP5 one carry chain, two bits longer, adds ``first`` and
        ``valid`` (see ``elaborate``): its carry out is the clock enable of the result's
        flip-flops, with no LUT between them. On the iCE40 (and without a platform: the form
        the proofs check) the decision is registered: two chains compare the word with the
        last word and with the maximum before it, each ending in one LUT and flip-flop
        (``t_last``, ``t_max``), and the result is one LUT of registers (see ``elaborate``);
        there the chains, the take LUTs and ``index_last`` are instantiated iCE40 cells, so
        that nextpnr packs and places them as intended.

    Interface
        ``valid``, ``first``, ``data`` (W bits) in; ``max_next`` (W bits), ``index_next``
        (0…N−1) out: the result over the words presented before this cycle (registers, or one
        LUT of registers). ``index_last``: ``index_next`` in the cycle after a word at position
        N−1 (a vector's last word; one LUT of three registers per bit on the iCE40, for the
        block-RAM addresses), meaningless otherwise. The block counts word positions itself
        (``count``, or the driver's own count of the words since ``first`` passed as
        ``count=``; word 0 is the one with ``first``; positions past N−1 wrap and are
        meaningless), so the driver presents a vector's words in order (stalls allowed).

    Latency
        1 cycle: a word presented in cycle t is in ``max_next``/``index_next`` from cycle t+1;
        after the last word of a vector they hold the vector's result until the next word.

    Invariants
        ``max_next == data[index_next]`` of the words presented since ``first``;
        ``index_next`` is the lowest position holding ``max_next``.
    """

    def __init__(self, classes: int, width: int, count: Signal | None = None):
        self.classes, self.width = classes, width
        super().__init__({
            "valid": In(1),
            "first": In(1),
            "data": In(width),
            "max_next": Out(width),
            "index_next": Out(range(classes)),
            "index_last": Out(range(classes)),
        })
        #: words of the current vector seen so far (the driver's, when it passes one: the
        #: driver then advances it exactly as this block would, ``Mux(first, 0, count) + 1``
        #: per word)
        self.own_count = count is None
        self.count = Signal(range(classes + 1)) if count is None else count

    def elaborate(self, platform):
        m = Module()
        w = self.width
        nmax = Signal(w, reset_less=True)            # ~max
        index = Signal(range(self.classes), reset_less=True)
        pos = Signal(range(self.classes))
        m.d.comb += pos.eq(Mux(self.first, 0, self.count))
        if self.own_count:
            with m.If(self.valid):
                m.d.sync += self.count.eq(pos + 1)
        if fpga_family(platform) == "ecp5":
            # take = valid & (first | data > max), all in one carry chain: the low W bits give
            # data + ~max, whose carry is data > max; bit W adds first + 1 (carry: first | gt);
            # bit W+1 adds valid + 0 (carry: valid & (first | gt)). No LUT between the chain
            # and the flip-flops' clock enable.
            take = Signal()
            m.d.comb += take.eq((Cat(self.data, self.first, self.valid)
                                 + Cat(nmax, Const(1, 1), Const(0, 1)))[w + 2])
            with m.If(take):
                m.d.sync += [nmax.eq(~self.data), index.eq(pos)]
            m.d.comb += [self.max_next.eq(~nmax), self.index_next.eq(index),
                         self.index_last.eq(index)]
            return m
        # iCE40 (and no platform: what the proofs and the simulations elaborate): the decision
        # is registered, so no chain output drives more than one LUT and its flip-flop, and the
        # result's registers follow a cycle late. After a word is presented, `nmax` still holds
        # ~(the maximum of the words before it) and the word itself waits in `ndreg` (~word, at
        # `pos_r`); `take_r` (it was taken) chooses between them:
        #     result    = Mux(take_r, (~ndreg, pos_r), (~nmax, index))
        #     take      = valid & (first | data > result's maximum)
        #               = valid & Mux(take_r, first | data > ~ndreg, first | data > ~nmax).
        # Both comparisons are carry chains from the sink (bit W adds first + 1: carry =
        # first | gt), each ending in its own LUT and flip-flop: `t_last` (taken, and the
        # word before was taken) and `t_max` (taken, the word before was not); take_r =
        # t_last | t_max. The registers absorb the choice a cycle later: nmax, index ←
        # the result. Word 0 is always taken, so `nmax` never needs another vector's value.
        ndreg = Signal(w, reset_less=True)
        pos_r = Signal(range(self.classes), reset_less=True)
        t_last, t_max = Signal(name="t_last"), Signal(name="t_max")
        take_r = Signal(name="take_r")
        ice40 = fpga_family(platform) == "ice40"
        m.d.comb += take_r.eq(t_last | t_max)
        m.d.sync += pos_r.eq(pos)
        last = Signal(range(self.classes))
        if ice40:
            # The same logic in iCE40 cells, placed as yosys and nextpnr would not place it:
            # each chain's carry out is the I3 input of the LUT of its take register (nextpnr
            # then continues the chain into that logic cell instead of routing the carry out
            # through a pass-through cell); `ndreg`'s D LUT reads both operands of the
            # `gt_last` chain's carry (I1, I2 = the carry's I0, I1), so each of its bits is
            # one logic cell (LUT, carry, flip-flop); `index_last` is one LUT per bit of the
            # two take registers and `index` (yosys would share t_last | t_max and put two
            # LUTs between them and the block-RAM address). tests/test_rtl_argmax_ice40.py
            # simulates this form.
            nd_next, nm_next, tl_next, tm_next = Signal(w), Signal(w), Signal(), Signal()
            m.d.sync += [ndreg.eq(nd_next), nmax.eq(nm_next),
                         t_last.eq(tl_next), t_max.eq(tm_next)]
            # take LUTs: O = I0 & (I1 | I2) & I3 and O = I0 & ~(I1 | I2) & I3 (I0 = valid,
            # I1 = t_last, I2 = t_max, I3 = the chain's carry out). Per bit, in the carry's
            # cell: ndreg ← valid ? ~data : ndreg (O = I0 ? ~I2 : I1), and nmax ← take_r ?
            # ndreg : nmax (O = I0 ? I3 : I1; I2 = data, unused, is there for the packing).
            _ice40_gt_chain(
                m, "gt_last", ndreg, self.data, self.first,
                lut_init(lambda i: i[0] & (i[1] | i[2]) & i[3]),
                (self.valid, t_last, t_max), tl_next,
                lut_init(lambda i: (1 - i[2]) if i[0] else i[1]), self.valid,
                Const(0, w), nd_next)
            _ice40_gt_chain(
                m, "gt_max", nmax, self.data, self.first,
                lut_init(lambda i: i[0] & (1 - (i[1] | i[2])) & i[3]),
                (self.valid, t_last, t_max), tm_next,
                lut_init(lambda i: i[3] if i[0] else i[1]), take_r, ndreg, nm_next)
            for b in range(len(last)):
                one = (self.classes - 1) >> b & 1
                # O = t_last | t_max ? one : index[b]  (I0 = t_last, I1 = t_max, I2 = index)
                m.submodules[f"last{b}"] = Instance(
                    "SB_LUT4", p_LUT_INIT=lut_init(
                        lambda i, one=one: one if i[0] | i[1] else i[2]),
                    i_I0=t_last, i_I1=t_max, i_I2=index[b], i_I3=Const(0, 1), o_O=last[b])
        else:
            gt_last = (Cat(self.data, self.first) + Cat(ndreg, Const(1, 1)))[w + 1]
            gt_max = (Cat(self.data, self.first) + Cat(nmax, Const(1, 1)))[w + 1]
            m.d.sync += [
                t_last.eq(self.valid & take_r & gt_last),
                t_max.eq(self.valid & ~take_r & gt_max),
            ]
            m.d.comb += last.eq(Mux(take_r, self.classes - 1, index))
            with m.If(self.valid):
                m.d.sync += ndreg.eq(~self.data)
            with m.If(take_r):
                m.d.sync += nmax.eq(ndreg)
        with m.If(take_r):
            m.d.sync += index.eq(pos_r)
        m.d.comb += [
            self.max_next.eq(~Mux(take_r, ndreg, nmax)),
            self.index_next.eq(Mux(take_r, pos_r, index)),
            # after a vector's last word (position N−1): one LUT of registers per bit
            self.index_last.eq(last),
        ]
        return m


def _ice40_gt_chain(m: Module, name: str, nreg: Signal, data: Value, first: Value,
                    init: Const, lut_in: tuple, out: Signal, bit_init: Const, bit_i0: Value,
                    bit_i3: Value, bit_out: Signal) -> None:
    """``gt = first | data > ~nreg`` as an iCE40 carry chain (``SB_CARRY``: data + nreg, then
    first + 1) ending in the I3 input of one ``SB_LUT4`` (``init``, I0–I2 = ``lut_in``, output
    ``out``), the chain's only load, so that nextpnr places that LUT as the chain's next logic
    cell. Each bit's carry shares its logic cell with an ``SB_LUT4`` (``bit_init``; I0 =
    ``bit_i0``, I1 = ``nreg[b]``, I2 = ``data[b]``, I3 = ``bit_i3[b]``; output ``bit_out[b]``,
    the D input of ``nreg[b]``'s flip-flop): it reads the carry's operands on I1, I2, as
    nextpnr requires to pack them together."""
    w = len(nreg)
    co = Signal(w + 2, name=f"{name}_co")
    for b in range(w):
        m.submodules[f"{name}_c{b}"] = Instance(
            "SB_CARRY", i_I0=nreg[b], i_I1=data[b], i_CI=co[b], o_CO=co[b + 1])
        m.submodules[f"{name}_l{b}"] = Instance(
            "SB_LUT4", p_LUT_INIT=bit_init, i_I0=bit_i0, i_I1=nreg[b], i_I2=data[b],
            i_I3=bit_i3[b], o_O=bit_out[b])
    m.submodules[f"{name}_c{w}"] = Instance(
        "SB_CARRY", i_I0=Const(1, 1), i_I1=first, i_CI=co[w], o_CO=co[w + 1])
    m.submodules[f"{name}_take"] = Instance(
        "SB_LUT4", p_LUT_INIT=init, i_I0=lut_in[0], i_I1=lut_in[1], i_I2=lut_in[2],
        i_I3=co[w + 1], o_O=out)
