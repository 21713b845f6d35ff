"""Frame buffers for a pipelined board: ``slots`` byte buffers used as a ring by three agents.

A frame moves through one slot in three phases, each owned by one agent, in ring order::

    free ──rx_done──▶ received ──ex_done──▶ executed ──tx_done──▶ free
    (receiver writes)  (executor reads/writes)  (sender reads/writes)

so one frame can be received while an earlier one is executed and a still earlier one is sent.
Three pointers (``rx``, ``ex``, ``tx``; one bit wider than the slot index, so that full and
empty differ) name the slot each agent works on; a phase ends with a one-cycle strobe.

:class:`BufferPort` — what an agent drives: ``raddr`` → ``rdata`` **two** cycles later (the
block RAM's synchronous read, then a register after the slot multiplexer, so no logic follows
the RAM's slow clock-to-out in the same cycle), and a write port ``we``/``waddr``/``wdata``:
registered with the slot the agent owns in that cycle and written into it one clock later (so
an agent must not read a byte in the cycle after it wrote it; none does — every agent reads a
byte before it writes it, or reads what another agent wrote several cycles before handing the
slot on). The memories carry ``no_rw_check``: no read of a row in the cycle it is written is
ever used, so yosys builds no read-first bypass around the block RAMs.

:class:`FrameSlots` ports (seen from the slots):

* ``rx`` (In BufferPort, writes only) and ``rx_free`` (Out: the slot at the ``rx`` pointer is
  free, so the receiver may take bytes) and ``rx_done`` (In strobe: a frame is complete);
* ``ex`` (In BufferPort), ``ex_valid`` (Out: a received frame waits), ``ex_done`` (In strobe,
  with ``ex_len``: the reply's length, header and payload, before its CRC);
* ``tx`` (In BufferPort), ``tx_valid`` (Out: an executed frame waits, with ``tx_len``),
  ``tx_done`` (In strobe: its reply has been handed to the UART; the slot is free again);
* ``used`` (Out): slots not free (for STATUS and tests).

``rx_free``, ``ex_valid``, ``tx_valid`` and ``used`` are registers, set from the pointers' next
values: exact in every cycle, and no pointer arithmetic in front of their users.

Invariants: at most one agent owns a slot; an agent's strobe while it owns nothing is ignored
(``ex_done`` without ``ex_valid``, ``tx_done`` without ``tx_valid``, ``rx_done`` without
``rx_free``); frames leave in the order they arrived. Writes: the receiver has priority, then
the executor, then the sender, but by the ring discipline only the owner of a slot writes it.
Cost: ``slots`` memories of ``depth`` bytes, a register stage per agent's write port, 2-way
read-address and 3-way write multiplexers per slot, one ``slots``-way read-data multiplexer per
reading agent.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out


class BufferPort(wiring.Signature):
    """A byte buffer seen from the agent using it (see the module docstring)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        super().__init__({
            "raddr": Out(range(depth)),
            "rdata": In(8),
            "we": Out(1),
            "waddr": Out(range(depth)),
            "wdata": Out(8),
        })

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.depth == self.depth

    def __repr__(self) -> str:
        return f"BufferPort({self.depth})"


def drive_port(m: Module, target, source) -> None:
    """``target`` (a flipped BufferPort) follows ``source`` (an agent's port) this cycle; for
    the multiplexers of a parent that shares one port between several agents in turn."""
    m.d.comb += [target.raddr.eq(source.raddr), target.we.eq(source.we),
                 target.waddr.eq(source.waddr), target.wdata.eq(source.wdata),
                 source.rdata.eq(target.rdata)]


class FrameSlots(wiring.Component):
    """``slots`` (a power of two) buffers of ``depth`` bytes in a ring (see the module docstring).
    """

    def __init__(self, slots: int, depth: int) -> None:
        if slots < 2 or slots & (slots - 1):
            raise ValueError("slots must be a power of two, at least 2")
        self.slots, self.depth = slots, depth
        len_shape = range(depth + 1)
        super().__init__({
            "rx": In(BufferPort(depth)),
            "rx_free": Out(1),
            "rx_done": In(1),
            "ex": In(BufferPort(depth)),
            "ex_valid": Out(1),
            "ex_done": In(1),
            "ex_len": In(len_shape),
            "tx": In(BufferPort(depth)),
            "tx_valid": Out(1),
            "tx_done": In(1),
            "tx_len": Out(len_shape),
            "used": Out(range(slots + 1)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        k = self.slots
        bits = (k - 1).bit_length()  # slot index bits
        ptr = {name: Signal(bits + 1, name=f"{name}_ptr") for name in ("rx", "ex", "tx")}
        idx = {name: p[:bits] for name, p in ptr.items()}
        step = {"rx": self.rx_done & self.rx_free, "ex": self.ex_done & self.ex_valid,
                "tx": self.tx_done & self.tx_valid}
        nxt = {name: Signal(bits + 1, name=f"{name}_ptr_next") for name in ptr}
        for name in ptr:
            m.d.comb += nxt[name].eq(ptr[name] + step[name])
            m.d.sync += ptr[name].eq(nxt[name])
        # The flags are registers, set from the next pointers (so they are never stale): no
        # pointer arithmetic sits in front of a consumer in the cycle it is used.
        used = Signal(bits + 1)
        m.d.comb += self.used.eq(used)
        rx_free = Signal(init=1)
        m.d.sync += [used.eq(nxt["rx"] - nxt["tx"]),
                     rx_free.eq((nxt["rx"] - nxt["tx"])[:bits + 1] != k),
                     self.ex_valid.eq(nxt["rx"] != nxt["ex"]),
                     self.tx_valid.eq(nxt["ex"] != nxt["tx"])]
        m.d.comb += self.rx_free.eq(rx_free)

        lens = Array(Signal(range(self.depth + 1), name=f"len{i}") for i in range(k))
        with m.If(self.ex_done):
            m.d.sync += lens[idx["ex"]].eq(self.ex_len)
        m.d.comb += self.tx_len.eq(lens[idx["tx"]])

        # Writes are registered on the way in, each with the slot its agent owned then (one
        # cycle later in the memory; nothing reads a byte within a cycle of writing it).
        wr = {}
        for name in ("rx", "ex", "tx"):
            port = getattr(self, name)
            we, slot = Signal(name=f"{name}_we_r"), Signal(bits, name=f"{name}_slot_r")
            waddr = Signal.like(port.waddr, name=f"{name}_waddr_r")
            wdata = Signal.like(port.wdata, name=f"{name}_wdata_r")
            m.d.sync += [we.eq(port.we), slot.eq(idx[name]), waddr.eq(port.waddr),
                         wdata.eq(port.wdata)]
            wr[name] = (we, slot, waddr, wdata)

        ex_rdata, tx_rdata = [], []
        for i in range(k):
            mem = Memory(shape=8, depth=self.depth, init=[], attrs={"no_rw_check": 1})
            m.submodules[f"slot{i}"] = mem
            rp, wp = mem.read_port(), mem.write_port()
            # (the executor's pointer equals the sender's when every slot waits to be sent:
            # ownership, not the pointer alone, selects)
            is_ex = (idx["ex"] == i) & self.ex_valid
            m.d.comb += rp.addr.eq(self.tx.raddr)
            with m.If(is_ex):
                m.d.comb += rp.addr.eq(self.ex.raddr)
            # (by the ring discipline only a slot's owner writes it, so the priority below
            # only orders writes that cannot happen together)
            first = True
            for name in ("rx", "ex", "tx"):
                we, slot, waddr, wdata = wr[name]
                with (m.If if first else m.Elif)(we & (slot == i)):
                    m.d.comb += [wp.en.eq(1), wp.addr.eq(waddr), wp.data.eq(wdata)]
                first = False
            ex_rdata.append(rp.data)
            tx_rdata.append(rp.data)
        m.d.sync += [self.ex.rdata.eq(Array(ex_rdata)[idx["ex"]]),
                     self.tx.rdata.eq(Array(tx_rdata)[idx["tx"]])]
        return m
