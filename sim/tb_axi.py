"""cocotb benches of the AXI IP (:class:`dynamarks.rtl.axi.WatermarkAxi`) with cocotbext-axi.

The DUT is driven only through its AXI ports: an ``AxiLiteMaster`` on ``s_axil_*`` writes the
parameter set to the register map's secret addresses (:mod:`dynamarks.rtl.regmap`), starts and
locks through CTRL and reads STATUS and the counters; an ``AxiStreamSource`` on ``s_axis_*``
(random idle cycles) sends one packet per vector and an ``AxiStreamSink`` on ``m_axis_*``
(random back-pressure) receives them. Every output word is compared with the bit-exact
reference (:class:`dynamarks.host.reference.ReferenceUnit`), in order, keystream position
included. A monitor checks the AXI4-Stream master rules on ``m_axis_*`` every clock (TVALID
never falls and TDATA/TLAST never change while TVALID & ~TREADY) and the AXI4-Lite slave's
B and R channels (BVALID/RVALID and their payload held until the handshake).

Environment (set by ``BENCHES``): ``DMK_CLASSES``, ``DMK_WIDTH``, ``DMK_VECTORS`` (random
vectors in ``test_stream``), ``DMK_SWEEP`` (``full``: read every word address of the AXI
space; otherwise a random sample of 256).

Tests:

* ``test_stream`` — configure over AXI4-Lite, ``DMK_VECTORS`` random vectors in four phases
  with different idle/back-pressure rates, scoreboard every word; counters read back;
* ``test_framing_irq`` — packets one beat short and one beat long are dropped and counted,
  set IRQ.PENDING and (when enabled) the ``irq`` pin; write-1-to-clear; the next vector is
  right;
* ``test_lock`` — after CTRL.LOCK every secret and CTRL write gets SLVERR and changes
  nothing (the stream continues from the same keystream position), IRQ stays writable,
  reset unlocks;
* ``test_register_map`` — ID/VERSION/GEOMETRY values; every address answers as the map
  says (SLVERR for unmapped reads and non-writable writes, OKAY + 0 for secret reads);
  reads are identical under two different secret sets (no read returns a secret bit).
"""

from __future__ import annotations

import functools
import logging
import os
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, SimTimeoutError, with_timeout

from dynamarks.host.params import Params
from dynamarks.host.reference import ReferenceUnit
from dynamarks.rtl.regmap import register_map
from dynamarks.sim.runner import Bench, report_metric
from dynamarks.sim.vectors import random_params, random_vectors


def _verilog(classes: int, width: int) -> str:
    from dynamarks.rtl.axi import generate_axi_verilog

    return generate_axi_verilog(classes, width)


#: (N, W, simulators, vectors on Icarus, on Verilator)
#: N = 10 on Verilator (the 20,000-vector run), N = 4 / W = 12 (TDATA padded to 16 bits) on Icarus.
CONFIGS = ((10, 16, ("verilator",), 400, 20_000), (4, 12, ("icarus",), 300, 0))

BENCHES = [
    Bench(
        name=f"axi_n{n}_w{w}",
        verilog=functools.partial(_verilog, n, w),
        test_module="dynamarks.sim.tb_axi",
        simulators=sims,
        env={"DMK_CLASSES": str(n), "DMK_WIDTH": str(w)},
        sim_env={"icarus": {"DMK_VECTORS": str(vi), "DMK_SWEEP": "sample"},
                 "verilator": {"DMK_VECTORS": str(vv), "DMK_SWEEP": "full"}},
    )
    for n, w, sims, vi, vv in CONFIGS
]

CLOCK_NS = 10
OKAY, SLVERR = 0, 2


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


class ProtocolMonitor:
    """Per-clock AXI master/slave rule checks on the DUT's outputs (see the module docstring);
    it also draws the stream agents' random idle and back-pressure cycles (``rates``), one
    coroutine for both, which is cheaper than cocotbext-axi's pause generators."""

    def __init__(self, dut, source, sink, rng: random.Random) -> None:
        self.dut = dut
        self.source, self.sink, self.rng = source, sink, rng
        self.rates = (0.0, 0.0)     # (idle, back-pressure) probabilities per clock
        self.errors: list[str] = []
        self.cycles = 0
        self.stalls = 0

    def _held(self, name, valid, ready, payload, prev):
        v = int(valid.value)
        if prev is not None and not prev[1]:
            if not v:
                self.errors.append(f"cycle {self.cycles}: {name} valid dropped without handshake")
            elif tuple(int(p.value) for p in payload) != prev[2]:
                self.errors.append(f"cycle {self.cycles}: {name} payload changed under stall")
        if not v:
            return None
        r = int(ready.value)
        self.stalls += not r if name == "m_axis" else 0
        return (v, r, tuple(int(p.value) for p in payload))

    async def run(self) -> None:
        d = self.dut
        chans = {
            "m_axis": (d.m_axis_tvalid, d.m_axis_tready, (d.m_axis_tdata, d.m_axis_tlast)),
            "b": (d.s_axil_bvalid, d.s_axil_bready, (d.s_axil_bresp,)),
            "r": (d.s_axil_rvalid, d.s_axil_rready, (d.s_axil_rdata, d.s_axil_rresp)),
        }
        prev: dict[str, tuple | None] = dict.fromkeys(chans)
        while True:
            await RisingEdge(d.aclk)
            idle, bp = self.rates
            self.source.pause = bool(idle) and self.rng.random() < idle
            self.sink.pause = bool(bp) and self.rng.random() < bp
            await ReadOnly()
            self.cycles += 1
            if not int(d.aresetn.value):
                prev = dict.fromkeys(chans)
                continue
            for name, (valid, ready, payload) in chans.items():
                prev[name] = self._held(name, valid, ready, payload, prev[name])


class AxiTB:
    """Clock, reset, cocotbext-axi agents, the protocol monitor and the reference model."""

    def __init__(self, dut) -> None:
        from cocotbext.axi import (
            AxiLiteBus,
            AxiLiteMaster,
            AxiStreamBus,
            AxiStreamSink,
            AxiStreamSource,
        )

        self.dut = dut
        self.n, self.w = _env_int("DMK_CLASSES", 10), _env_int("DMK_WIDTH", 16)
        self.map = register_map(self.n, self.w)
        self.rng = random.Random(cocotb.RANDOM_SEED)
        self.np_rng = np.random.default_rng(cocotb.RANDOM_SEED)
        for bus in ("s_axis", "m_axis", "s_axil"):  # the agents log every frame at INFO
            logging.getLogger(f"cocotb.{dut._name}.{bus}").setLevel(logging.WARNING)
        Clock(dut.aclk, CLOCK_NS, unit="ns").start()
        reset = dut.aresetn
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.aclk, reset,
                                  reset_active_level=False)
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.aclk, reset,
                                      reset_active_level=False, byte_lanes=1)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.aclk, reset,
                                  reset_active_level=False, byte_lanes=1)
        self.monitor = ProtocolMonitor(dut, self.source, self.sink, self.rng)
        cocotb.start_soon(self.monitor.run())
        self.model: ReferenceUnit | None = None

    # ---- random idle and back-pressure --------------------------------------------------

    def set_rates(self, idle: float, backpressure: float) -> None:
        """Probability per clock that the source holds TVALID low / the sink TREADY low."""
        self.monitor.rates = (idle, backpressure)

    # ---- AXI4-Lite ----------------------------------------------------------------------

    async def reset(self, cycles: int = 4) -> None:
        self.dut.aresetn.value = 0
        await ClockCycles(self.dut.aclk, cycles)
        self.dut.aresetn.value = 1
        await ClockCycles(self.dut.aclk, 2)
        self.model = None

    async def write(self, addr: int, value: int, resp: int = OKAY) -> None:
        r = await self.axil.write(addr, value.to_bytes(4, "little"))
        assert r.resp == resp, f"write 0x{addr:x}: resp {int(r.resp)}, expected {resp}"

    async def read(self, addr: int) -> tuple[int, int]:
        r = await self.axil.read(addr, 4)
        return int.from_bytes(r.data, "little"), int(r.resp)

    async def reg(self, name: str) -> int:
        value, resp = await self.read(self.map[name].offset)
        assert resp == OKAY, f"read {name}: resp {resp}"
        return value

    def secret_writes(self, params: Params) -> list[tuple[int, int]]:
        """(AXI address, value) of every key/IV and table word, from the register map."""
        from dynamarks.rtl.param_store import config_writes

        fields = {"key": params.key, "iv": params.iv, "alpha": params.alpha,
                  "beta": params.beta, "a": params.a, "b": params.b, "C": params.thresholds}
        return [(self.map.secret_address(a), v) for a, v in config_writes(fields, self.n)]

    async def configure(self, params: Params, lock: bool = False) -> None:
        for addr, value in self.secret_writes(params):
            await self.write(addr, value)
        ctrl = self.map["CTRL"]
        await self.write(ctrl.offset, ctrl.field("START").mask)
        running = self.map["STATUS"].field("RUNNING").mask
        for _ in range(200):
            if await self.reg("STATUS") & running:
                break
            await ClockCycles(self.dut.aclk, 10)
        else:
            raise AssertionError("STATUS.RUNNING never rose after CTRL.START")
        if lock:
            await self.write(ctrl.offset, ctrl.field("LOCK").mask)
        self.model = ReferenceUnit(params)

    # ---- AXI4-Stream --------------------------------------------------------------------

    def send(self, p: np.ndarray) -> None:
        from cocotbext.axi import AxiStreamFrame

        for row in np.asarray(p, dtype=np.int64):
            self.source.send_nowait(AxiStreamFrame([int(x) for x in row]))

    def send_raw(self, words: list[int]) -> None:
        from cocotbext.axi import AxiStreamFrame

        self.source.send_nowait(AxiStreamFrame(list(words)))

    async def expect(self, p: np.ndarray) -> int:
        """Receive len(p) packets and compare each with the reference; returns the vectors
        altered. Raises on the first mismatch (with the vector number)."""
        want = self.model.process_detailed(np.asarray(p, dtype=np.int64))
        for k in range(len(p)):
            try:
                frame = await with_timeout(self.sink.recv(), 200 * self.n * CLOCK_NS + 20_000,
                                           "ns")
            except SimTimeoutError:
                raise AssertionError(f"vector {k} of {len(p)} never came out; {self.probe()}"
                                     ) from None
            got = [int(x) for x in frame.tdata]
            assert got == [int(x) for x in want.out[k]], (
                f"vector {k}: in {list(p[k])} expected {list(want.out[k])} got {got}")
        return int(want.altered.sum())

    def probe(self) -> str:
        names = ("s_axis_tvalid", "s_axis_tready", "m_axis_tvalid", "m_axis_tready")
        return " ".join(f"{n}={getattr(self.dut, n).value}" for n in names)

    def check_protocol(self) -> None:
        assert not self.monitor.errors, "\n".join(self.monitor.errors[:20])


async def _bench(dut) -> AxiTB:
    tb = AxiTB(dut)
    await tb.reset()
    return tb


@cocotb.test()
async def test_stream(dut):
    """Configure over AXI4-Lite, stream random vectors, scoreboard every word."""
    tb = await _bench(dut)
    total = _env_int("DMK_VECTORS", 400)
    params = random_params(tb.np_rng, tb.n, tb.w)
    await tb.configure(params)
    rates = ((0.0, 0.0), (0.3, 0.0), (0.0, 0.3), (0.2, 0.5))
    altered = 0
    start = tb.monitor.cycles
    for k, (idle, bp) in enumerate(rates):
        m = total // len(rates) + (k < total % len(rates))
        tb.set_rates(idle, bp)
        p = random_vectors(tb.np_rng, m, params)
        tb.send(p)
        altered += await tb.expect(p)
    cycles = tb.monitor.cycles - start
    assert await tb.reg("VECTORS_IN") == total
    assert await tb.reg("VECTORS_OUT") == total
    assert await tb.reg("REJECTED") == 0
    tb.check_protocol()
    assert tb.monitor.stalls > 0 or total < 50, "back-pressure never stalled the output"
    report_metric("axi.vectors", total)
    report_metric("axi.altered", altered)
    report_metric("axi.cycles", cycles)
    # full rate: no idle, no back-pressure → one beat per clock
    tb.set_rates(0.0, 0.0)
    m = 50
    p = random_vectors(tb.np_rng, m, params)
    t0 = tb.monitor.cycles
    tb.send(p)
    await tb.expect(p)
    per_vector = (tb.monitor.cycles - t0) / m
    report_metric("axi.cycles_per_vector_full_rate", round(per_vector, 2))
    assert per_vector <= tb.n + 1, f"{per_vector} cycles per vector at full rate (N = {tb.n})"


@cocotb.test()
async def test_framing_irq(dut):
    """Short and long packets: dropped, counted, IRQ raised and cleared."""
    tb = await _bench(dut)
    params = random_params(tb.np_rng, tb.n, tb.w)
    await tb.configure(params)
    irq = tb.map["IRQ"]
    en, pend = irq.field("ENABLE").mask, irq.field("PENDING").mask
    await tb.write(irq.offset, en)
    assert await tb.reg("IRQ") == en
    assert int(dut.irq.value) == 0
    good = random_vectors(tb.np_rng, 3, params)
    tb.send(good[:1])
    tb.send_raw([int(x) for x in good[1]][:-1])          # one beat short
    tb.send_raw([int(x) for x in good[1]] + [7])         # one beat long
    tb.send(good[1:])
    await tb.expect(good)                                  # rejected packets emit nothing
    await ClockCycles(dut.aclk, 4)
    assert await tb.reg("REJECTED") == 2
    assert await tb.reg("VECTORS_IN") == 3
    assert await tb.reg("IRQ") == en | pend
    assert int(dut.irq.value) == 1
    await tb.write(irq.offset, en | pend)                  # write 1 to clear
    await ClockCycles(dut.aclk, 2)
    assert await tb.reg("IRQ") == en
    assert int(dut.irq.value) == 0
    await tb.write(irq.offset, 0)                           # disabled: pending, no pin
    tb.send_raw([1])
    await ClockCycles(dut.aclk, 10)
    assert await tb.reg("IRQ") == pend
    assert int(dut.irq.value) == 0
    tb.check_protocol()


@cocotb.test()
async def test_lock(dut):
    """After LOCK, secret and CTRL writes get SLVERR and change nothing; reset unlocks."""
    tb = await _bench(dut)
    params = random_params(tb.np_rng, tb.n, tb.w)
    await tb.configure(params, lock=True)
    status = tb.map["STATUS"]
    assert await tb.reg("STATUS") & status.field("LOCKED").mask
    p = random_vectors(tb.np_rng, 20, params)
    tb.send(p[:10])
    await tb.expect(p[:10])
    other = random_params(tb.np_rng, tb.n, tb.w)
    refused = 0
    for addr, value in tb.secret_writes(other):             # every secret word: refused
        await tb.write(addr, value, resp=SLVERR)
        refused += 1
    ctrl = tb.map["CTRL"]
    await tb.write(ctrl.offset, ctrl.field("START").mask, resp=SLVERR)
    await tb.write(ctrl.offset, ctrl.field("LOCK").mask, resp=SLVERR)
    await tb.write(tb.map["IRQ"].offset, 1)                 # IRQ stays writable
    assert await tb.reg("STATUS") == status.field("RUNNING").mask | status.field("LOCKED").mask
    tb.send(p[10:])                                          # same key, same position
    await tb.expect(p[10:])
    report_metric("lock.refused_writes", refused + 2)
    await tb.reset()
    assert await tb.reg("STATUS") == 0
    await tb.configure(other)                                # unlocked: accepted
    q = random_vectors(tb.np_rng, 10, other)
    tb.send(q)
    await tb.expect(q)
    tb.check_protocol()


async def _read_all(tb: AxiTB, addrs: list[int]) -> dict[int, tuple[int, int]]:
    return {a: await tb.read(a) for a in addrs}


@cocotb.test()
async def test_register_map(dut):
    """Every address answers as the map says; no read returns a secret bit."""
    tb = await _bench(dut)
    rmap = tb.map
    space = 1 << rmap.addr_width
    if os.environ.get("DMK_SWEEP") == "full":
        addrs = list(range(0, space, 4))
    else:
        addrs = sorted({r.offset for r in rmap.registers} | set(rmap.secret_addresses())
                       | {tb.rng.randrange(0, space) & ~3 for _ in range(256)})
    assert await tb.reg("ID") == rmap["ID"].value
    assert await tb.reg("VERSION") == rmap["VERSION"].value
    assert await tb.reg("GEOMETRY") == tb.n | tb.w << 8
    # writes to everything that is not writable: SLVERR (secrets are written below)
    for a in addrs:
        kind, reg = rmap.classify(a)
        if kind == "unmapped" or (kind == "reg" and not reg.writable):
            await tb.write(a, 0xFFFFFFFF, resp=SLVERR)
    # a partial write is refused too
    r = await tb.axil.write(rmap["IRQ"].offset, b"\x01")
    assert r.resp == SLVERR
    seen = []
    for _ in range(2):  # two secret sets: every read must be identical
        params = random_params(tb.np_rng, tb.n, tb.w)
        await tb.configure(params)
        reads = await _read_all(tb, addrs)
        for a, (value, resp) in reads.items():
            kind, reg = rmap.classify(a)
            if kind == "unmapped":
                assert (value, resp) == (0, SLVERR), f"0x{a:x}: {value:#x} resp {resp}"
            elif kind == "secret":
                assert (value, resp) == (0, OKAY), f"secret 0x{a:x} read {value:#x} resp {resp}"
            else:
                assert resp == OKAY, f"{reg.name}: resp {resp}"
                if not reg.readable:
                    assert value == 0, f"{reg.name} (write-only) read {value:#x}"
        seen.append(reads)
        await tb.reset()
    assert seen[0] == seen[1], "a read differs between two secret sets"
    report_metric("regmap.addresses_read", 2 * len(addrs))
    tb.check_protocol()
