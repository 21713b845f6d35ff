"""The iCE40 path of :class:`~dynamarks.rtl.counter.SplitCounter` (an ``SB_MAC16`` accumulator),
simulated for real in Icarus Verilog with yosys's own iCE40 cell models (``ice40/cells_sim.v``),
against a modular count in Python: both the Verilog Amaranth emits for the iCEBreaker (a
multiplier instance and a fabric accumulator) and the netlist ``synth_ice40 -dsp`` makes of it
(one ``SB_MAC16`` in accumulator mode and nothing else: the configuration the board gets).

The stimulus crosses the low half's carry into the high half and the wrap at 2^32: the
accumulator is preloaded just below those points (a hierarchical assignment from the
testbench, as counting there would take hours); a synchronous reset in the middle of a run
must clear the count and ignore that cycle's increment. The fabric version (simulation,
formal, ECP5) is checked in tests/test_rtl_blocks.py.
"""

from __future__ import annotations

import json
import random
import shutil

import pytest
from amaranth.back import rtlil, verilog

from dynamarks.rtl.counter import SplitCounter
from dynamarks.rtl.platforms import make_platform
from dynamarks.rtl.synth import tool_env
from tests.icarus_cells import ice40_cells_sim, run_tool

MOD = 1 << 32

TESTBENCH = r"""
`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 1;
  reg [1:0] inc = 0;
  wire [31:0] value;
  integer fin, fout, op, arg, n;
  counter dut(.clk(clk), .rst(rst), .inc(inc), .value(value));
  always #5 clk = ~clk;
  initial begin
    fin = $fopen("stim.txt", "r");
    fout = $fopen("out.txt", "w");
    @(negedge clk);
    while ($fscanf(fin, "%d %h\n", op, arg) == 2) begin
      // op 0: count `arg`; 1: reset (inc 1, to be ignored); 2: preload `arg`, inc 0
      rst = (op == 1);
      inc = (op == 0) ? arg[1:0] : (op == 1) ? 2'd1 : 2'd0;
      if (op == 2) begin
        `PRELOAD
      end
      @(posedge clk);
      #1 $fdisplay(fout, "%h", value);
      @(negedge clk);
    end
    $fclose(fout);
    $finish;
  end
endmodule
"""


def _stimulus(rng: random.Random) -> tuple[list[tuple[int, int]], list[int]]:
    """(op, arg) per cycle and the expected value after each cycle's clock edge."""
    ops: list[tuple[int, int]] = [(1, 0), (1, 0)]
    for start in (None, 0x0000_FFF0, 0x1234_FFFE, 0xFFFF_FFC0, None, 0xFFFF_FFFF):
        if start is not None:
            ops.append((2, start))
        ops += [(0, rng.choice((0, 1, 2, 2))) for _ in range(rng.randrange(60, 200))]
        if rng.random() < 0.5:
            ops.append((1, 0))
    ops += [(0, 2)] * 40000          # 80,000 more: the low half carries out more than once
    want, total = [], None
    for op, arg in ops:
        if op == 1:
            total = 0
        elif op == 2:
            total = arg
        else:
            total = (total + arg) % MOD
        want.append(total)
    return ops, want


@pytest.mark.parametrize("netlist", ["emitted", "synthesised"])
def test_ice40_dsp_counter_counts_modulo_2_32(tmp_path, netlist):
    """Every cycle the iCE40 counter's value is the running total of the increments mod 2^32
    from the cycle after (as the fabric counter and the unit's ports promise), through carries
    into the high half and wraps, and a reset clears it."""
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        pytest.skip("Icarus Verilog not installed (apt-get install iverilog)")
    dut = SplitCounter(32, 2)
    platform = make_platform("icebreaker")
    if netlist == "emitted":
        src = verilog.convert(dut, name="counter", platform=platform, ports=[dut.inc, dut.value])
        assert "SB_MAC16" in src
        preload = "dut.value = arg;"
    else:
        (tmp_path / "counter.il").write_text(
            rtlil.convert(dut, name="counter", platform=platform, ports=[dut.inc, dut.value]))
        run_tool([tool_env()["YOSYS"], "-q", "-p", "read_rtlil counter.il; synth_ice40 -dsp -top "
              "counter; tee -q -o stat.json stat -json; write_verilog -noattr counter.v"],
                 tmp_path)
        text = (tmp_path / "stat.json").read_text()
        cells = json.loads(text[text.index("{"):])["modules"]["\\counter"]["num_cells_by_type"]
        assert cells == {"SB_MAC16": 1}, f"all of the counter in one DSP, got {cells}"
        src = (tmp_path / "counter.v").read_text()
        assert ".TOPOUTPUT_SELECT(2'h1)" in src and ".OLOADTOP(rst)" in src
        preload = "begin dut.mac.rQ = arg[31:16]; dut.mac.rS = arg[15:0]; end"
    (tmp_path / "counter.v").write_text(src)
    (tmp_path / "tb.v").write_text(f"`define PRELOAD {preload}\n" + TESTBENCH)
    ops, want = _stimulus(random.Random(32))
    (tmp_path / "stim.txt").write_text("".join(f"{op} {arg:x}\n" for op, arg in ops))
    run_tool(["iverilog", "-g2012", "-DNO_ICE40_DEFAULT_ASSIGNMENTS", "-s", "tb", "-o", "sim.vvp",
          "tb.v", "counter.v", str(ice40_cells_sim())], tmp_path)
    run_tool(["vvp", "-n", "sim.vvp"], tmp_path)
    got = [int(x, 16) for x in (tmp_path / "out.txt").read_text().split()]
    assert len(got) == len(want)
    bad = [(k, ops[k], hex(g), hex(w))
           for k, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
    assert not bad, f"{len(bad)} cycles differ, first: {bad[:5]}"
    assert max(want[2:]) >= MOD - 4 and any(b < a for a, b in zip(want, want[1:], strict=False))


def test_counter_is_fabric_off_ice40():
    """Simulation, formal and the ECP5 get the two-chain fabric counter, not the DSP."""
    dut = SplitCounter(32, 1)
    for platform in (None, make_platform("ulx3s")):
        assert "SB_MAC16" not in verilog.convert(dut, name="counter", platform=platform,
                                                 ports=[dut.inc, dut.value])
