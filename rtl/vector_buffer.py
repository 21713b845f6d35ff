"""Circular word buffer between the input and the output side of the unit."""

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

__all__ = ["VectorBuffer", "BufferWriteSignature", "BufferReadSignature"]


class BufferWriteSignature(wiring.Signature):
    """The buffer's write side, seen from the writer: ``en``, ``first``, ``data``, ``commit``,
    ``abort``, ``move`` (out), ``space`` (in). See :class:`VectorBuffer`."""

    def __init__(self, width: int):
        super().__init__({
            "en": Out(1), "first": Out(1), "data": Out(width), "commit": Out(1),
            "abort": Out(1), "move": Out(1), "space": In(1),
        })


class BufferReadSignature(wiring.Signature):
    """The buffer's read side, seen from the reader: ``next``, ``en`` (out), ``data`` (in)."""

    def __init__(self, width: int):
        super().__init__({"next": Out(1), "en": Out(1), "data": In(width)})


class VectorBuffer(wiring.Component):
    """A ``depth``-word circular buffer (block RAM) with vector commit/abort on the write side.

    What it does
        The input side writes each word of the vector it is receiving; the output side reads
        the words of complete vectors in order. Words of a vector that turns out malformed are
        dropped by rolling the write pointer back to the start of that vector; a new ``first``
        word restarts the vector at the same place. The reader never looks past committed words
        because it only reads vectors the unit has announced as complete.

    Interface
        ``write`` (``In(BufferWriteSignature(W))``): ``en``, ``first`` (this word restarts the
        vector), ``data``, ``commit`` (with the last word's ``en``: the vector is complete),
        ``abort`` (drop the uncommitted words), ``move`` (``en | abort``, given separately so
        that the caller can compute it in one logic level), ``space`` (out: at least two words
        are free, from registers only; registered by the caller it means "a word can be
        written this cycle", so at most ``depth − 1`` words are ever stored).
        ``read`` (``In(BufferReadSignature(W))``): ``next`` (advance the read pointer after
        this cycle's read), ``en`` (read-port enable: low holds ``data``), ``data`` (out).

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
            "write": In(BufferWriteSignature(width)),
            "read": In(BufferReadSignature(width)),
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
            waddr.eq(Mux(self.write.first, wbase, wptr)),
            wr.addr.eq(waddr[:abits]),
            wr.data.eq(self.write.data),
            wr.en.eq(self.write.en),
            rd.addr.eq(rptr[:abits]),
            rd.en.eq(self.read.en),
            self.read.data.eq(rd.data),
        ]
        # The write pointer moves on any word of a vector (written or aborting): its enable is
        # `move` (== en | abort) and only its value depends on which.
        with m.If(self.write.move):
            m.d.sync += wptr.eq(Mux(self.write.abort, wbase, waddr + 1))
        with m.If(self.write.commit):
            m.d.sync += wbase.eq(waddr + 1)
        with m.If(self.read.next):
            m.d.sync += rptr.eq(rptr + 1)
        # At least two free words (from registers only): a caller that registers this flag
        # knows there is at least one free word in the next cycle (one word per cycle is written
        # at most). This keeps the pointer subtraction off the sink's ready → accept path.
        m.d.comb += self.write.space.eq((wptr - rptr)[:abits + 1] < self.depth - 1)
        return m
