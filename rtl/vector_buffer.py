"""Circular word buffer between the input and the output side of the unit."""

from amaranth import Module, Signal, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

__all__ = ["VectorBuffer", "BufferWriteSignature", "BufferReadSignature"]


class BufferWriteSignature(wiring.Signature):
    """The buffer's write side, seen from the writer: ``en``, ``pos`` (the word's position in
    its vector), ``data``, ``commit`` (out). See :class:`VectorBuffer`."""

    def __init__(self, width: int, vector: int):
        super().__init__({
            "en": Out(1), "pos": Out(range(vector)), "data": Out(width), "commit": Out(1),
        })


class BufferReadSignature(wiring.Signature):
    """The buffer's read side, seen from the reader: ``next``, ``en`` (out), ``data`` (in)."""

    def __init__(self, width: int):
        super().__init__({"next": Out(1), "en": Out(1), "data": In(width)})


class VectorBuffer(wiring.Component):
    """A ``depth``-word circular buffer (block RAM) of ``vector``-word vectors.

    What it does
        The input side writes each word of the vector it is receiving at ``wbase + pos``
        (``wbase``: where the vector being received starts); the output side reads the words
        of complete vectors in order. A vector that turns out malformed is simply not
        committed: the next vector is written over it from ``wbase`` again. ``commit`` (with
        the last word, ``pos == vector − 1``) moves ``wbase`` on by ``vector`` words. The
        reader never looks past committed words because it only reads vectors the unit has
        announced as complete.

    Interface
        ``write`` (``In(BufferWriteSignature(W, vector))``): ``en``, ``pos``, ``data``,
        ``commit``. ``read`` (``In(BufferReadSignature(W))``): ``next`` (advance the read
        pointer after this cycle's read), ``en`` (read-port enable: low holds ``data``),
        ``data`` (out).

    Latency
        ``read.data`` is the word at the read pointer of the previous cycle where ``read.en``
        was high (synchronous read port). A word can be read the cycle after it is written.

    Invariants
        Precondition (the writer's): the committed unread words plus the vector being
        received never exceed ``depth``, so a word is never overwritten before it is read
        (the unit sizes ``depth`` for one vector being received, ``queue_depth`` waiting and
        one being read). ``wptr`` (``wbase + pos``, the write address) is the next free word
        while a vector is received. The memory is marked ``no_rw_check``: the reader never
        reads a word in the cycle it is written (it reads only words of committed vectors,
        written at least a cycle earlier), so yosys need not emulate read-during-write
        behaviour. ``depth`` is a power of two.
    """

    def __init__(self, width: int, depth: int, vector: int):
        if depth & (depth - 1):
            raise ValueError("depth must be a power of two")
        if not 1 <= vector <= depth:
            raise ValueError("vector must be 1 … depth words")
        self.width, self.depth, self.vector = width, depth, vector
        super().__init__({
            "write": In(BufferWriteSignature(width, vector)),
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
        wptr = Signal(abits + 1)    # this word's address: the next free word
        rptr = Signal(abits + 1)    # next word to read
        m.d.comb += [
            wptr.eq(wbase + self.write.pos),
            wr.addr.eq(wptr[:abits]),
            wr.data.eq(self.write.data),
            wr.en.eq(self.write.en),
            rd.addr.eq(rptr[:abits]),
            rd.en.eq(self.read.en),
            self.read.data.eq(rd.data),
        ]
        with m.If(self.write.commit):
            m.d.sync += wbase.eq(wbase + self.vector)
        with m.If(self.read.next):
            m.d.sync += rptr.eq(rptr + 1)
        return m
