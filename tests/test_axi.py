"""The AXI wrapper and its register map (rtl/axi.py, rtl/regmap.py), without a simulator build.

* the register map: disjoint, aligned, inside the address space; the SystemRDL the project
  writes compiles with systemrdl-compiler and places every register where the map says;
* the hardware's secret-address decode equals the map's secret addresses and the unit's own
  configuration address function (param_store.config_address), for every word address and
  several N (Amaranth simulator);
* the read channel cannot carry a secret: in the wrapper's netlist (yosys, the unit as a black
  box) the fan-in of RDATA/RRESP reaches the unit only through its status and counter outputs
  — never its data output — so with the unit's own secret independence (proved by
  SymbiYosys, rtl/formal_harness.py, property (e)) no read sequence returns a secret bit;
* no output of the IP depends combinationally on one of its inputs (AXI's rule);
* the Verilog port names and widths.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest
from amaranth import Elaboratable, Module, Signal
from amaranth.back import rtlil
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from dynamarks.rtl.axi import WatermarkAxi, generate_axi_verilog, tdata_width
from dynamarks.rtl.param_store import (
    SPACE_C,
    SPACE_KEY,
    SPACE_WINDOW,
    config_addr_width,
    config_address,
)
from dynamarks.rtl.regmap import register_map, to_systemrdl

GEOMETRIES = [(2, 10), (4, 12), (10, 16), (16, 20), (33, 16)]


@pytest.mark.parametrize(("n", "w"), GEOMETRIES)
def test_map_is_disjoint_and_inside_the_space(n, w):
    rmap = register_map(n, w)
    regs = [r.offset for r in rmap.registers]
    secrets = sorted(rmap.secret_addresses())
    assert len(set(regs)) == len(regs) and len(set(secrets)) == len(secrets)
    assert not set(regs) & set(secrets)
    assert all(a % 4 == 0 and 0 <= a < 1 << rmap.addr_width for a in regs + secrets)
    assert len(secrets) == n * n + 4 * n + 5           # C, window/Δ, key/IV words
    for r in rmap.registers:                            # fields do not overlap
        masks = [f.mask for f in r.fields]
        assert sum(masks) == _or(masks) and _or(masks) < 1 << 32


def _or(xs):
    out = 0
    for x in xs:
        out |= x
    return out


@pytest.mark.parametrize(("n", "w"), [(4, 12), (10, 16)])
def test_systemrdl_compiles_to_the_same_addresses(n, w, tmp_path: Path):
    from systemrdl import RDLCompiler
    from systemrdl.node import RegNode

    rmap = register_map(n, w)
    path = tmp_path / "map.rdl"
    path.write_text(to_systemrdl(rmap))
    rdlc = RDLCompiler()
    rdlc.compile_file(str(path))
    root = rdlc.elaborate()
    got: dict[str, int] = {}
    secret_regs: set[int] = set()
    for node in root.descendants(unroll=True):
        if isinstance(node, RegNode):
            if node.parent.type_name and node.parent != root.top:
                secret_regs.add(node.absolute_address)
                assert not node.has_sw_readable, node.get_path()   # secrets are write-only
            else:
                got[node.inst_name] = node.absolute_address
    assert got == {r.name: r.offset for r in rmap.registers}
    assert secret_regs == rmap.secret_addresses()


class _Decode(Elaboratable):
    def __init__(self, axi: WatermarkAxi):
        axi._MustUse__silence = True         # only its decoder is used
        self.axi = axi
        self.addr = Signal(axi.regmap.addr_width - 2)
        self.ok = Signal()

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.ok.eq(self.axi._secret_ok(self.addr))
        return m


@pytest.mark.parametrize("n", [2, 4, 5, 10, 16, 17])
def test_secret_decode_matches_map_and_unit(n):
    axi = WatermarkAxi(n, 16)
    rmap = axi.regmap
    from_map = {a >> 2 for a in rmap.secret_addresses()}
    base = rmap.secret_base >> 2
    from_unit = {base + config_address(n, SPACE_KEY, 0, k) for k in range(5)}
    from_unit |= {base + config_address(n, SPACE_WINDOW, i, f) for i in range(n) for f in range(4)}
    from_unit |= {base + config_address(n, SPACE_C, i, k) for i in range(n) for k in range(n)}
    assert from_map == from_unit
    dut = _Decode(axi)
    got: set[int] = set()

    async def bench(ctx):
        for a in range(1 << (rmap.addr_width - 2)):
            ctx.set(dut.addr, a)
            if ctx.get(dut.ok):
                got.add(a)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert got == from_map


def _netlist_with_unit_blackboxed(n: int, w: int) -> dict:
    from dynamarks.rtl.synth import tool_env

    env = tool_env()
    with tempfile.TemporaryDirectory(prefix="dmk-axi-") as tmp:
        Path(tmp, "axi.il").write_text(rtlil.convert(WatermarkAxi(n, w), name="axi"))
        Path(tmp, "run.ys").write_text(
            "read_rtlil axi.il\nblackbox axi.unit\nhierarchy -top axi\n"
            "proc\nopt_clean\nwrite_json net.json\n")
        r = subprocess.run([env["YOSYS"], "-q", "run.ys"], cwd=tmp, env=env,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        return json.loads(Path(tmp, "net.json").read_text())["modules"]["axi"]


def _fan_in(module: dict, outputs: list[str]) -> tuple[set[str], set[str]]:
    """(unit output ports, top input ports) in the transitive fan-in of ``outputs``' bits."""
    driver: dict[int, tuple[dict, str]] = {}
    for cell in module["cells"].values():
        for pin, bits in cell["connections"].items():
            if cell["port_directions"][pin] == "output":
                for b in bits:
                    if isinstance(b, int):
                        driver[b] = (cell, pin)
    port_of = {b: name for name, p in module["ports"].items() if p["direction"] == "input"
               for b in p["bits"] if isinstance(b, int)}
    todo = [b for o in outputs for b in module["ports"][o]["bits"] if isinstance(b, int)]
    seen: set[int] = set()
    unit_ports: set[str] = set()
    inputs: set[str] = set()
    while todo:
        b = todo.pop()
        if b in seen:
            continue
        seen.add(b)
        if b in port_of:
            inputs.add(port_of[b])
            continue
        if b not in driver:
            continue
        cell, pin = driver[b]
        if cell["type"].endswith("unit"):
            unit_ports.add(pin)                      # the black box: stop here
            continue
        for p, bits in cell["connections"].items():  # every input of the cell (conservative)
            if cell["port_directions"][p] == "input":
                todo += [x for x in bits if isinstance(x, int)]
    return unit_ports, inputs


@pytest.mark.synth
def test_read_channel_reaches_only_status_and_counters():
    module = _netlist_with_unit_blackboxed(10, 16)
    unit_ports, inputs = _fan_in(module, ["s_axil_rdata", "s_axil_rresp", "s_axil_rvalid"])
    assert unit_ports == {"config__locked", "config__running", "vectors_in", "vectors_out",
                          "rejected"}, unit_ports
    assert not inputs & {"s_axis_tdata", "s_axis_tvalid", "s_axis_tlast", "m_axis_tready"}
    # the analysis does see the unit's data path where it exists (a control for the method)
    data_ports, _ = _fan_in(module, ["m_axis_tdata"])
    assert any(p.startswith("source__payload") for p in data_ports), data_ports


@pytest.mark.parametrize(("n", "w"), [(10, 16), (4, 12)])
def test_verilog_ports(n, w):
    import re

    text = generate_axi_verilog(n, w, name="ip")
    top = text[text.index("module ip("):]
    top = top[:top.index("endmodule")]
    ports = {name: (int(hi) + 1 if hi else 1, d) for d, hi, name in
             re.findall(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);", top, re.M)}
    aw, dw = register_map(n, w).addr_width, tdata_width(w)
    assert dw % 8 == 0 and dw >= w
    want = {
        "aclk": (1, "input"), "aresetn": (1, "input"), "irq": (1, "output"),
        "s_axis_tdata": (dw, "input"), "s_axis_tvalid": (1, "input"),
        "s_axis_tready": (1, "output"), "s_axis_tlast": (1, "input"),
        "m_axis_tdata": (dw, "output"), "m_axis_tvalid": (1, "output"),
        "m_axis_tready": (1, "input"), "m_axis_tlast": (1, "output"),
        "s_axil_awaddr": (aw, "input"), "s_axil_awprot": (3, "input"),
        "s_axil_awvalid": (1, "input"), "s_axil_awready": (1, "output"),
        "s_axil_wdata": (32, "input"), "s_axil_wstrb": (4, "input"),
        "s_axil_wvalid": (1, "input"), "s_axil_wready": (1, "output"),
        "s_axil_bresp": (2, "output"), "s_axil_bvalid": (1, "output"),
        "s_axil_bready": (1, "input"),
        "s_axil_araddr": (aw, "input"), "s_axil_arprot": (3, "input"),
        "s_axil_arvalid": (1, "input"), "s_axil_arready": (1, "output"),
        "s_axil_rdata": (32, "output"), "s_axil_rresp": (2, "output"),
        "s_axil_rvalid": (1, "output"), "s_axil_rready": (1, "input"),
    }
    assert ports == want
    assert aw == config_addr_width(n) + 3


def _comb_inputs(module: dict, output: str) -> set[str]:
    """Top inputs that reach ``output`` through combinational cells only (flip-flops and
    synchronous memory read ports stop the search)."""
    driver: dict[int, tuple[dict, str]] = {}
    for cell in module["cells"].values():
        for pin, bits in cell["connections"].items():
            if cell["port_directions"].get(pin) == "output":
                for b in bits:
                    if isinstance(b, int):
                        driver[b] = (cell, pin)
    port_of = {b: name for name, p in module["ports"].items() if p["direction"] == "input"
               for b in p["bits"] if isinstance(b, int)}
    todo = [b for b in module["ports"][output]["bits"] if isinstance(b, int)]
    seen: set[int] = set()
    found: set[str] = set()
    while todo:
        b = todo.pop()
        if b in seen:
            continue
        seen.add(b)
        if b in port_of:
            found.add(port_of[b])
            continue
        if b not in driver:
            continue
        cell, _ = driver[b]
        kind = cell["type"]
        if "dff" in kind or "dlatch" in kind:
            continue
        if kind.startswith("$mem"):
            clocked = int(str(cell["parameters"].get("RD_CLK_ENABLE", "0")).replace("x", "0"), 2)
            if clocked == (1 << int(str(cell["parameters"]["RD_PORTS"]), 2)) - 1:
                continue
        for p, bits in cell["connections"].items():
            if cell["port_directions"].get(p) == "input":
                todo += [x for x in bits if isinstance(x, int)]
    return found


def _flat_netlist(design, name: str) -> dict:
    from dynamarks.rtl.synth import tool_env

    env = tool_env()
    with tempfile.TemporaryDirectory(prefix="dmk-axi-") as tmp:
        Path(tmp, "d.il").write_text(rtlil.convert(design, name=name))
        Path(tmp, "run.ys").write_text(
            f"read_rtlil d.il\nhierarchy -top {name}\nproc\nflatten\nopt_clean\n"
            "memory -nomap\nopt_clean\nwrite_json net.json\n")
        r = subprocess.run([env["YOSYS"], "-q", "run.ys"], cwd=tmp, env=env,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        return json.loads(Path(tmp, "net.json").read_text())["modules"][name]


class _Leaky(wiring.Component):
    """A control for the check: ``y`` = registered ``a`` XOR combinational ``b``."""

    def __init__(self):
        super().__init__({"a": In(4), "b": In(4), "y": Out(4)})

    def elaborate(self, platform):
        m = Module()
        r = Signal(4)
        m.d.sync += r.eq(self.a)
        m.d.comb += self.y.eq(r ^ self.b)
        return m


@pytest.mark.synth
def test_no_combinational_path_from_an_input_to_an_output():
    assert _comb_inputs(_flat_netlist(_Leaky(), "leaky"), "y") == {"b"}   # the method works
    module = _flat_netlist(WatermarkAxi(10, 16), "axi")
    outputs = [name for name, p in module["ports"].items() if p["direction"] == "output"]
    assert len(outputs) == 13
    paths = {o: _comb_inputs(module, o) for o in outputs}
    assert all(not v for v in paths.values()), {o: v for o, v in paths.items() if v}
