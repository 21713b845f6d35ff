"""cocotb bench of the whole board top level (rtl/top.py ``BoardTop``), at its UART pins.

Design: ``BoardTop(classes=10, width=16)`` with a divisor of 4 clock cycles per bit — the same
Verilog the simulated board runs — on Verilator. The bench bit-bangs ``uart_rx`` and samples
``uart_tx`` (:class:`dynamarks.sim.board_uart_tb.UartLine`). Oracles: the bit-exact reference
(``ReferenceUnit``) for every vector, the device's acceptance rules (``protocol.expected_nack``,
docs/PROTOCOL.md §4) for every refused frame, and the STATUS counters.

* ``test_configure_lock_vectors`` — STATUS of a fresh device; VECTORS and LOCK before CONFIGURE
  refused; CONFIGURE, LOCK, a second CONFIGURE refused; vectors in frames of 1 … 50 bit-exact;
  the counters;
* ``test_pipelined_window`` — a window of VECTORS frames sent back to back, replies in order and
  bit-exact; a frame damaged inside a window: it is NACKed CRC, the frames after it SEQUENCE
  (none executed), and sent again they come back as if nothing had happened; the cycles per
  vector against the line's bound;
* ``test_random_frame_fuzzing`` — ``DMK_FUZZ`` random, damaged and truncated frames, each
  NACKed with the expected reason, with valid VECTORS frames between them coming back right;
* ``test_uart_errors_and_busy`` — what only the pins can show: a byte with a 0 stop bit makes
  its frame a FRAMING NACK and counts in ``uart_errors``; a glitch on the idle line is ignored;
  frames sent beyond the window are dropped and counted in ``rx_dropped``, the ones answered
  come back in order, and the device answers the next frame normally.
"""

from __future__ import annotations

import functools
import os
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge
from cocotb.utils import get_sim_time

from dynamarks.host import protocol as pr
from dynamarks.host.params import keygen
from dynamarks.host.reference import ReferenceUnit
from dynamarks.sim.board_designs import top_verilog
from dynamarks.sim.board_uart_tb import UartLine
from dynamarks.sim.runner import Bench, report_metric
from dynamarks.wire import (
    DEFAULT_SLOTS,
    PROTOCOL_VERSION,
    FrameType,
    NackReason,
    buffer_depth,
    line_bytes_per_frame,
    max_vectors_per_frame,
    word_bytes,
)

N, W, DIVISOR = 10, 16, 4

BENCHES = [
    Bench(
        name="board_top",
        verilog=functools.partial(top_verilog, N, W, DIVISOR),
        test_module="dynamarks.sim.tb_top",
        simulators=("verilator",),
        env={"DMK_FUZZ": "600"},
    ),
]


class TopTB:
    def __init__(self, dut) -> None:
        self.dut = dut
        self.line: UartLine | None = None
        self.seq = 0
        self.vseq = 0  # the device's next VECTORS sequence number (PROTOCOL §6)
        self.max_vectors = max_vectors_per_frame(N, W)
        self.depth = buffer_depth(N, W)

    async def start(self) -> None:
        dut = self.dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        dut.rst.value = 1
        dut.uart_rx.value = 1
        await ClockCycles(dut.clk, 4)
        await FallingEdge(dut.clk)
        dut.rst.value = 0
        self.line = UartLine(dut.clk, dut.uart_rx, dut.uart_tx, DIVISOR)

    async def transact(self, ftype: int, payload: bytes = b"", seq: int | None = None) -> pr.Frame:
        if seq is None:
            seq = self.seq
            self.seq = (self.seq + 1) & 0xFF
        await self.line.send(pr.encode_frame(ftype, seq, payload))
        reply = pr.decode_frame(await self.line.read_block())
        assert reply.seq == seq, f"reply for seq {reply.seq}, sent {seq}"
        reply = pr.parse_reply(reply)
        if ftype == FrameType.CONFIGURE:
            self.vseq = 0
        return reply

    async def status(self) -> pr.Status:
        reply = await self.transact(FrameType.STATUS)
        assert reply.type == FrameType.STATUS_REPLY
        return pr.Status.parse(reply.payload)

    async def vectors(self, p: np.ndarray) -> np.ndarray:
        reply = await self.transact(FrameType.VECTORS, pr.pack_vectors(p, W), seq=self.vseq)
        self.vseq = (self.vseq + 1) & 0xFF
        assert reply.type == FrameType.VECTORS_REPLY
        return pr.unpack_vectors(reply.payload, N, W)

    async def expect_nack(self, ftype: int, payload: bytes, reason: NackReason) -> None:
        try:
            await self.transact(ftype, payload)
        except pr.NackError as exc:
            assert exc.reason == reason, f"NACK {exc.reason.name}, expected {reason.name}"
        else:
            raise AssertionError(f"no NACK, expected {reason.name}")


def _vectors(rng: np.random.Generator, m: int) -> np.ndarray:
    from dynamarks.host.fixedpoint import to_fixed

    logits = rng.normal(size=(m, N)) * rng.choice([1.0, 6.0], size=(m, 1))
    x = np.exp(logits - logits.max(axis=1, keepdims=True))
    return to_fixed(x / x.sum(axis=1, keepdims=True), W)


@cocotb.test()
async def test_configure_lock_vectors(dut):
    tb = TopTB(dut)
    await tb.start()
    st = await tb.status()
    assert (st.version, st.classes, st.width, st.max_vectors) == (
        PROTOCOL_VERSION, N, W, tb.max_vectors)
    assert st.window == DEFAULT_SLOTS and st.vseq == 0
    assert not (st.configured or st.locked or st.ready)
    await tb.expect_nack(FrameType.VECTORS, bytes(2 * N), NackReason.NOT_CONFIGURED)
    await tb.expect_nack(FrameType.LOCK, b"", NackReason.NOT_CONFIGURED)
    params = keygen(classes=N, width=W, seed=cocotb.RANDOM_SEED)
    ack = await tb.transact(FrameType.CONFIGURE, params.encode())
    assert (ack.type, ack.payload) == (FrameType.ACK, bytes([FrameType.CONFIGURE]))
    ack = await tb.transact(FrameType.LOCK)
    assert (ack.type, ack.payload) == (FrameType.ACK, bytes([FrameType.LOCK]))
    await tb.expect_nack(
        FrameType.CONFIGURE, keygen(classes=N, width=W, seed=1).encode(), NackReason.LOCKED
    )
    ref = ReferenceUnit(params)
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    total = 0
    for m in (1, 2, 7, tb.max_vectors, 3):
        p = _vectors(rng, m)
        got = await tb.vectors(p)
        assert (got == ref.process(p)).all(), f"frame of {m} vectors differs from the reference"
        total += m
    st = await tb.status()
    assert st.configured and st.locked and st.ready and st.cfg_refused
    assert st.vectors_in == st.vectors_out == total and st.rejected == 0
    assert st.frames_nacked == 3 and st.frames_ok == 1 + 2 + 5 + 1
    assert st.last_nack == NackReason.LOCKED
    assert st.vseq == 5
    report_metric("top.vectors_checked", total)


@cocotb.test()
async def test_pipelined_window(dut):
    tb = TopTB(dut)
    await tb.start()
    params = keygen(classes=N, width=W, seed=cocotb.RANDOM_SEED + 2)
    await tb.transact(FrameType.CONFIGURE, params.encode())
    st = await tb.status()
    window = st.window
    ref = ReferenceUnit(params)
    rng = np.random.default_rng(cocotb.RANDOM_SEED + 2)
    m = 10  # vectors a frame

    # A full window back to back; the replies are read while the frames still go out.
    frames = [_vectors(rng, m) for _ in range(window)]
    wire = b"".join(pr.vectors_frame(p, W, k) for k, p in enumerate(frames))
    start = get_sim_time("ns") // 10
    sender = cocotb.start_soon(tb.line.send(wire))
    for k, p in enumerate(frames):
        reply = pr.parse_reply(pr.decode_frame(await tb.line.read_block()))
        assert (reply.type, reply.seq) == (FrameType.VECTORS_REPLY, k)
        got = pr.unpack_vectors(reply.payload, N, W)
        assert (got == ref.process(p)).all(), f"frame {k} of the window differs"
    cycles = get_sim_time("ns") // 10 - start
    await sender
    line = line_bytes_per_frame(m * N * word_bytes(W)) * 10 * DIVISOR
    report_metric("top.window_cycles_per_frame", cycles / window)
    report_metric("top.line_cycles_per_frame", line)
    # back to back: the last reply ends one frame time after the last request (plus the
    # processing), not `window` round trips later
    assert cycles < (window + 1) * line + 20_000

    # A frame damaged in the middle of a window: it and everything after it are refused, and
    # nothing reaches the unit; sent again in order, the vectors are those of the reference.
    frames = [_vectors(rng, m) for _ in range(window)]
    blocks = [pr.vectors_frame(p, W, window + k) for k, p in enumerate(frames)]
    raw = bytearray(pr.cobs_decode(blocks[1][:-1]))
    raw[9] ^= 0x04
    blocks[1] = pr.cobs_encode(bytes(raw)) + b"\x00"
    sender = cocotb.start_soon(tb.line.send(b"".join(blocks)))
    reasons = []
    for _ in range(window):
        reply = pr.decode_frame(await tb.line.read_block())
        reasons.append(reply.payload[0] if reply.type == FrameType.NACK else None)
    await sender
    assert reasons[0] is None and reasons[1] == NackReason.CRC
    assert reasons[2:] == [NackReason.SEQUENCE] * (window - 2)
    ref.process(frames[0])
    tb.vseq = window + 1
    for p in frames[1:]:
        assert (await tb.vectors(p) == ref.process(p)).all()
    st = await tb.status()
    assert st.vectors_out == (2 * window) * m and st.vseq == 2 * window
    assert st.frames_nacked == window - 1


@cocotb.test()
async def test_random_frame_fuzzing(dut):
    tb = TopTB(dut)
    await tb.start()
    params = keygen(classes=N, width=W, seed=cocotb.RANDOM_SEED + 1)
    await tb.transact(FrameType.CONFIGURE, params.encode())
    ref = ReferenceUnit(params)
    rng = random.Random(cocotb.RANDOM_SEED)
    nrng = np.random.default_rng(cocotb.RANDOM_SEED)
    kw = dict(
        classes=N,
        width=W,
        max_vectors=tb.max_vectors,
        depth=tb.depth,
        configured=True,
        locked=False,
    )
    count = int(os.environ.get("DMK_FUZZ", 600))
    seen: dict[int, int] = {}
    valid = 0
    for i in range(count):
        while True:
            kind = rng.randrange(4)
            if kind == 0:  # noise
                block = bytes(rng.randint(1, 255) for _ in range(rng.randint(1, 40)))
            else:
                payload = pr.pack_vectors(_vectors(nrng, rng.randint(1, 3)), W)
                t = rng.choice([FrameType.VECTORS, FrameType.VECTORS, FrameType.STATUS, 0x09])
                raw = bytearray(
                    pr.frame_bytes(t, rng.getrandbits(8), payload if t != FrameType.STATUS else b"")
                )
                if kind == 1:  # bit flips
                    for _ in range(rng.randint(1, 3)):
                        raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
                elif kind == 2:  # a vector too few/many words, CRC made right
                    body = raw[:-2] + bytes(rng.choice([2, 4, 18]))
                    body[2:4] = (len(body) - 4).to_bytes(2, "little")
                    raw = body + pr.crc16(bytes(body)).to_bytes(2, "big")
                block = pr.cobs_encode(bytes(raw))
                if kind == 3:  # truncated
                    block = block[: rng.randrange(1, len(block))]
            block = bytes(b or 0x33 for b in block)
            reason = pr.expected_nack(block, **kw)
            if reason is not None:
                break
        await tb.line.send(block + b"\x00")
        reply = pr.decode_frame(await tb.line.read_block())
        assert reply.type == FrameType.NACK, f"fuzz frame {i}: {reply}"
        assert reply.payload[0] == reason, (
            f"fuzz frame {i}: {NackReason(reply.payload[0]).name}, expected {reason.name}"
        )
        seen[reason] = seen.get(reason, 0) + 1
        if i % 8 == 7:
            p = _vectors(nrng, rng.randint(1, 4))
            assert (await tb.vectors(p) == ref.process(p)).all(), f"valid frame after {i}"
            valid += len(p)
    st = await tb.status()
    assert st.frames_nacked == count
    assert st.vectors_in == st.vectors_out == valid and st.rejected == 0
    for reason in seen:
        assert st.nacks_seen & (1 << reason)
    assert {NackReason.FRAMING, NackReason.CRC, NackReason.CLASSES, NackReason.TYPE} <= set(seen)
    cocotb.log.info("NACKs by reason: %s", {NackReason(k).name: v for k, v in seen.items()})
    report_metric("top.fuzz_frames", count)


@cocotb.test()
async def test_uart_errors_and_busy(dut):
    tb = TopTB(dut)
    await tb.start()
    frame = pr.encode_frame(FrameType.STATUS, 5)
    await tb.line.send(frame, bad_stop={2})  # the third byte has a 0 stop bit
    reply = pr.decode_frame(await tb.line.read_block())
    assert (reply.type, reply.payload[0]) == (FrameType.NACK, NackReason.FRAMING)
    await tb.line.glitch(1)  # shorter than half a bit: not a start bit
    await tb.line.idle(20 * DIVISOR)
    st = await tb.status()
    assert st.uart_errors == 1 and st.frames_nacked == 1 and st.rx_dropped == 0
    # Frames far beyond the window, without waiting: each STATUS reply is six times longer than
    # its request, so the buffers fill up and later requests are dropped; what is answered
    # comes back in order, and the device then answers normally.
    burst = 4 * st.window
    await tb.line.send(b"".join(pr.encode_frame(FrameType.STATUS, 0x40 + k)
                                for k in range(burst)))
    seqs = []
    while True:
        try:
            seqs.append(pr.decode_frame(await tb.line.read_block(max_cycles=3000)).seq)
        except TimeoutError:
            break
    assert st.window <= len(seqs) < burst
    assert seqs == sorted(seqs) and seqs[:st.window] == [0x40 + k for k in range(st.window)]
    tb.seq = 0x70
    st2 = await tb.status()
    assert st2.rx_dropped > 0 and st2.frames_ok == st.frames_ok + len(seqs) + 1
