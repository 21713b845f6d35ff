"""cocotb bench of the COBS frame decoder and encoder with CRC-16 (rtl/framing.py).

Design: :class:`dynamarks.sim.board_designs.FramingLoopback` (buffer of 1,024 bytes): the
decoder's results are ports, and a frame that decodes cleanly is echoed by the encoder with its
CRC recomputed. Oracle: the host codec (``dynamarks.host.protocol``), an independent software
implementation of COBS and CRC-16/CCITT-FALSE, itself checked against published values in
tests/test_protocol.py.

* ``test_good_frames_echo`` — frames with payloads of 0 … 1,018 bytes (zero-free ones around
  the COBS block boundaries at 254 and 508 bytes; all-zero, sparse and random ones), sent with
  random gaps and read back under random back-pressure: the echo equals the host's encoding byte
  for byte, and the decoder reports the header, the length and the CONFIGURE-header match;
* ``test_random_and_damaged_blocks`` — ``DMK_FUZZ`` blocks (truncated, corrupted, noise,
  oversize): ``framing``, ``overflow``, ``length`` and ``crc_ok`` equal the host model's, and
  only clean frames are echoed;
* ``test_resync_when_not_accepting`` — bytes that arrive while ``accept`` is low are dropped
  (``dropped`` pulses), the rest of that frame is skipped, the next frame decodes;
* ``test_empty_frames_ignored`` — delimiters alone produce no ``done``.
"""

from __future__ import annotations

import functools
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly

from dynamarks.host import protocol as pr
from dynamarks.rtl.framing import cfg_header_bytes
from dynamarks.sim.board_designs import framing_verilog
from dynamarks.sim.runner import Bench

DEPTH = 1024

BENCHES = [
    Bench(
        name="board_framing",
        verilog=functools.partial(framing_verilog, DEPTH),
        test_module="dynamarks.sim.tb_framing",
        simulators=("icarus",),
        env={"DMK_DEPTH": str(DEPTH), "DMK_FUZZ": "200"},
    ),
]


class LoopbackTB:
    def __init__(self, dut, seed: int, gap: float = 0.2, backpressure: float = 0.3) -> None:
        self.dut = dut
        self.rng = random.Random(seed)
        self._bp_rng = random.Random(seed ^ 0x5EED)  # back-pressure: its own stream
        self.gap = gap
        self.backpressure = backpressure
        self.depth = int(os.environ.get("DMK_DEPTH", DEPTH))
        self.out = bytearray()
        self.done: list[dict[str, int]] = []
        self.dropped = 0

    async def start(self) -> None:
        dut = self.dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        dut.rst.value = 1
        dut.sink__valid.value = 0
        dut.sink__payload.value = 0
        dut.source__ready.value = 0
        dut.accept.value = 1
        await ClockCycles(dut.clk, 3)
        await FallingEdge(dut.clk)
        dut.rst.value = 0
        cocotb.start_soon(self._monitor())
        cocotb.start_soon(self._ready())

    async def _ready(self) -> None:
        while True:
            await FallingEdge(self.dut.clk)
            self.dut.source__ready.value = int(self._bp_rng.random() >= self.backpressure)

    async def _monitor(self) -> None:
        dut = self.dut
        names = (
            "length",
            "crc_ok",
            "framing",
            "overflow",
            "ftype",
            "seq",
            "len_field",
            "cfg_header_ok",
        )
        while True:  # sample before each rising edge: a handshake is valid & ready there
            await FallingEdge(dut.clk)
            await ReadOnly()
            if int(dut.source__valid.value) and int(dut.source__ready.value):
                self.out.append(int(dut.source__payload.value))
            if int(dut.done.value):
                self.done.append({n: int(getattr(dut, n).value) for n in names})
            self.dropped += int(dut.dropped.value)

    async def send(self, data: bytes) -> None:
        dut = self.dut
        for b in data:
            await FallingEdge(dut.clk)
            while self.rng.random() < self.gap:
                dut.sink__valid.value = 0
                await FallingEdge(dut.clk)
            dut.sink__valid.value = 1
            dut.sink__payload.value = b
        await FallingEdge(dut.clk)
        dut.sink__valid.value = 0

    async def echo(self, max_cycles: int = 40_000) -> bytes:
        """The next echoed block including its delimiter; b'' if none comes in time."""
        for _ in range(max_cycles // 100):
            if 0 in self.out:
                k = self.out.index(0)
                block = bytes(self.out[: k + 1])
                del self.out[: k + 1]
                # The loopback listens again two cycles after its delimiter is taken; a host
                # sees the delimiter much later (UART), so the bench waits as long.
                await ClockCycles(self.dut.clk, 4)
                return block
            await ClockCycles(self.dut.clk, 100)
        return b""


def _model(block: bytes, depth: int) -> dict[str, int]:
    """What the decoder must report for one block (delimiter not included)."""
    data, _ok, remaining = pr._cobs_decode_lenient(block)
    return {
        "length": min(len(data), depth + 1),
        "crc_ok": int(pr.crc16(data) == 0),
        "framing": int(remaining != 0),
        "overflow": int(len(data) > depth),
    }


def _payload(rng: random.Random, size: int, kind: str) -> bytes:
    if kind == "zero-free":
        return bytes(rng.randint(1, 255) for _ in range(size))
    if kind == "zeros":
        return bytes(size)
    if kind == "sparse":
        return bytes(rng.choice([0, rng.randint(1, 255)]) for _ in range(size))
    return bytes(rng.getrandbits(8) for _ in range(size))


@cocotb.test()
async def test_good_frames_echo(dut):
    tb = LoopbackTB(dut, cocotb.RANDOM_SEED)
    await tb.start()
    rng = tb.rng
    header = cfg_header_bytes(10, 16)
    # Zero-free payloads put COBS block boundaries at these sizes (the 4-byte header is
    # zero-free too when its fields are non-zero; the CRC bytes may add a zero).
    sizes = [0, 1, 2, 8, 9, 248, 249, 250, 251, 252, 253, 254, 502, 503, 504, 505, 506, 507, 1018]
    cases = [(s, "zero-free") for s in sizes]
    cases += [(rng.randint(0, 1018), k) for k in ("zeros", "sparse", "random", "random")]
    cases += [(592, "config")]
    for size, kind in cases:
        if kind == "config":
            payload = header + _payload(rng, size - 8, "random")
        else:
            payload = _payload(rng, size, kind)
        ftype, seq = rng.randint(1, 255), rng.randint(1, 255)
        wire = pr.encode_frame(ftype, seq, payload)
        await tb.send(wire)
        got = await tb.echo()
        assert got == wire, f"{kind} payload of {size} bytes: echo differs"
        res = tb.done.pop(0)
        assert res == {
            "length": size + 6,
            "crc_ok": 1,
            "framing": 0,
            "overflow": 0,
            "ftype": ftype,
            "seq": seq,
            "len_field": size,
            "cfg_header_ok": int(size >= 8 and payload[:8] == header),
        }, f"{kind} payload of {size} bytes"
    assert not tb.done and not tb.out


@cocotb.test()
async def test_random_and_damaged_blocks(dut):
    tb = LoopbackTB(dut, cocotb.RANDOM_SEED + 1)
    await tb.start()
    rng = tb.rng
    kinds: dict[str, int] = {}
    last = "none"
    for _ in range(int(os.environ.get("DMK_FUZZ", 400))):
        kind = rng.choice(["truncate", "corrupt", "noise", "good"] * 6 + ["oversize"])
        block = pr.encode_frame(
            rng.getrandbits(8), rng.getrandbits(8), _payload(rng, rng.randint(0, 300), "sparse")
        )[:-1]
        if kind == "truncate":
            block = block[: rng.randrange(1, len(block))]
        elif kind == "corrupt":
            b = bytearray(block)
            b[rng.randrange(len(b))] = rng.randint(1, 255)
            block = bytes(b)
        elif kind == "noise":
            block = bytes(rng.randint(1, 255) for _ in range(rng.randint(1, 80)))
        elif kind == "oversize":
            block = bytes(rng.randint(1, 255) for _ in range(tb.depth + rng.randint(1, 300)))
        want = _model(block, tb.depth)
        clean = (
            not want["framing"] and not want["overflow"] and want["length"] >= 6 and want["crc_ok"]
        )
        kinds[kind] = kinds.get(kind, 0) + 1
        await tb.send(block + b"\x00")
        got = await tb.echo() if clean else b""
        await ClockCycles(dut.clk, 20)
        assert len(tb.done) == 1, f"{kind}: {len(tb.done)} done pulses (previous: {last})"
        res = tb.done.pop(0)
        assert {k: res[k] for k in want} == want, f"{kind}: decoder says {res}, model {want}"
        assert got == (block + b"\x00" if clean else b""), f"{kind}: echo wrong (after {last})"
        last = kind
        assert not tb.out, f"{kind}: damaged frame echoed"
    cocotb.log.info("blocks by kind: %s", kinds)


@cocotb.test()
async def test_resync_when_not_accepting(dut):
    tb = LoopbackTB(dut, cocotb.RANDOM_SEED + 2, gap=0.0, backpressure=0.0)
    await tb.start()
    first = pr.encode_frame(3, 1, b"\x11\x22\x33\x44")
    await FallingEdge(dut.clk)
    dut.accept.value = 0
    await tb.send(first[:5])
    await FallingEdge(dut.clk)
    dut.accept.value = 1
    await tb.send(first[5:])  # the tail and the delimiter: skipped, not decoded
    await ClockCycles(dut.clk, 20)
    assert not tb.done and tb.dropped == len(first)
    second = pr.encode_frame(4, 2, b"")
    await tb.send(second)
    assert await tb.echo() == second
    assert tb.done[0]["seq"] == 2


@cocotb.test()
async def test_empty_frames_ignored(dut):
    tb = LoopbackTB(dut, cocotb.RANDOM_SEED + 3)
    await tb.start()
    await tb.send(b"\x00\x00\x00")
    await ClockCycles(dut.clk, 20)
    assert not tb.done and not tb.out
    await tb.send(b"\x01\x00")  # one byte that decodes to nothing is a frame (too short)
    await ClockCycles(dut.clk, 20)
    assert len(tb.done) == 1 and tb.done[0]["length"] == 0 and not tb.out
