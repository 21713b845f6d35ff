"""Circular word buffer between the input and the output side of the unit."""

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

__all__ = ["VectorBuffer"]


class VectorBuffer(wiring.Component):
    """A ``depth``-word circular buffer (block RAM) with vector commit/abort on the write side.

    What it does
        The input side writes each word of the vector it is receiving; the output side reads
        the words of complete vectors in order. Words of a vector that turns out malformed are
        dropped by rolling the write pointer back to the start of that vector; a new ``first``
        word restarts the vector at the same place. The reader never looks past committed words
        because it only reads vectors the unit has announced as complete.

    Interface
        Write side: ``w_en``, ``w_first`` (this word restarts the vector), ``w_data``,
        ``commit`` (with the last word's ``w_en``: the vector is complete), ``abort`` (drop the
        uncommitted words), ``w_move`` (``w_en | abort``, given separately so that the
        caller can compute it in one logic level), ``w_space`` (out: at least two words are
        free, from registers only; registered by the caller it means "a word can be written
        this cycle", so at most ``depth − 1`` words are ever stored).
        Read side: ``r_next`` (advance the read pointer after this cycle's read), ``r_en``
        (read-port enable: low holds ``r_data``), ``r_data`` (out).

    Latency
        ``r_data`` is the word at the read pointer of the previous cycle where ``r_en`` was high
        (synchronous read port). A word can be read the cycle after it is written.

    Invariants
        ``wptr − rptr < depth``: a word is never overwritten before it is read.
        The memory is marked ``no_rw_check``: the reader never reads a word in the cycle it is
        written (it reads only words of committed vectors, written at least a cycle earlier),
        so yosys need not emulate read-during-write behaviour. ``depth`` is a power of two.
    """

    def __init__(self, width: int, depth: int):
        if depth & (depth - 1):
            raise ValueError("depth must be a power of two")
        self.width, self.depth = width, depth
        super().__init__({
            "w_en": In(1),
            "w_first": In(1),
            "w_data": In(width),
            "commit": In(1),
            "abort": In(1),
            "w_move": In(1),
            "w_space": Out(1),
            "r_next": In(1),
            "r_en": In(1),
            "r_data": Out(width),
        })

    def elaborate(self, platform):
        m = Module()
        abits = ceil_log2(self.depth)
        from .param_store import memory_attrs

        m.submodules.mem = mem = memory.Memory(shape=unsigned(self.width), depth=self.depth,
                                               init=[], attrs=memory_attrs(platform))
        wr = mem.write_port()
        rd = mem.read_port()

        wbase = Signal(abits + 1)   # start of the vector being received
        wptr = Signal(abits + 1)    # next free word
        rptr = Signal(abits + 1)    # next word to read
        waddr = Signal(abits + 1)
        m.d.comb += [
            waddr.eq(Mux(self.w_first, wbase, wptr)),
            wr.addr.eq(waddr[:abits]),
            wr.data.eq(self.w_data),
            wr.en.eq(self.w_en),
            rd.addr.eq(rptr[:abits]),
            rd.en.eq(self.r_en),
            self.r_data.eq(rd.data),
        ]
        # The write pointer moves on any word of a vector (written or aborting): its enable is
        # `w_move` (== w_en | abort) and only its value depends on which.
        with m.If(self.w_move):
            m.d.sync += wptr.eq(Mux(self.abort, wbase, waddr + 1))
        with m.If(self.commit):
            m.d.sync += wbase.eq(waddr + 1)
        with m.If(self.r_next):
            m.d.sync += rptr.eq(rptr + 1)
        # At least two free words (from registers only): a caller that registers this flag
        # knows there is at least one free word in the next cycle (one word per cycle is written
        # at most). This keeps the pointer subtraction off the sink's ready → accept path.
        m.d.comb += self.w_space.eq((wptr - rptr)[:abits + 1] < self.depth - 1)
        return m
