"""The ECP5 path of :class:`~dynamarks.rtl.delta.DeltaGen` (a hand-instantiated ``MULT18X18D``
with its input and output registers), simulated in Icarus Verilog against SPEC §7's formula.

yosys ships only a black box of ``MULT18X18D``, so the testbench carries a behavioural model of
the primitive as the ECP5 sysDSP documentation describes it (unsigned 18 × 18 → 36 bits; input
registers A and B and the output register, each clocked by ``CLKn`` and enabled by the
``CEn`` its ``REG_*_CLK`` / ``REG_*_CE`` parameters name, or bypassed with ``NONE``). The model
refuses any configuration it does not model (signed operands, the pipeline register, a
reset in use, another clock), so a change of configuration fails loudly here rather than
passing untested. The other families' path is checked in tests/test_rtl_blocks.py.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
from amaranth.back import verilog

from dynamarks.rtl.delta import DeltaGen
from dynamarks.rtl.platforms import make_platform

MODEL = r"""
module MULT18X18D (
  input A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15, A16, A17,
  input B0, B1, B2, B3, B4, B5, B6, B7, B8, B9, B10, B11, B12, B13, B14, B15, B16, B17,
  input C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13, C14, C15, C16, C17,
  input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
  input CLK0, CLK1, CLK2, CLK3, CE0, CE1, CE2, CE3, RST0, RST1, RST2, RST3,
  output P0, P1, P2, P3, P4, P5, P6, P7, P8, P9, P10, P11, P12, P13, P14, P15, P16, P17,
  output P18, P19, P20, P21, P22, P23, P24, P25, P26, P27, P28, P29, P30, P31, P32, P33, P34,
  output P35
);
  parameter REG_INPUTA_CLK = "NONE";  parameter REG_INPUTA_CE = "CE0";
  parameter REG_INPUTA_RST = "RST0";
  parameter REG_INPUTB_CLK = "NONE";  parameter REG_INPUTB_CE = "CE0";
  parameter REG_INPUTB_RST = "RST0";
  parameter REG_INPUTC_CLK = "NONE";  parameter REG_INPUTC_CE = "CE0";
  parameter REG_INPUTC_RST = "RST0";
  parameter REG_PIPELINE_CLK = "NONE";  parameter REG_PIPELINE_CE = "CE0";
  parameter REG_PIPELINE_RST = "RST0";
  parameter REG_OUTPUT_CLK = "NONE";  parameter REG_OUTPUT_CE = "CE0";
  parameter REG_OUTPUT_RST = "RST0";
  parameter CLK0_DIV = "ENABLED";  parameter CLK1_DIV = "ENABLED";
  parameter CLK2_DIV = "ENABLED";  parameter CLK3_DIV = "ENABLED";
  parameter HIGHSPEED_CLK = "NONE";  parameter GSR = "ENABLED";
  parameter CAS_MATCH_REG = "FALSE";  parameter SOURCEB_MODE = "B_SHIFT";
  parameter MULT_BYPASS = "DISABLED";  parameter RESETMODE = "SYNC";

  wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
  wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
  wire [3:0] ce = {CE3, CE2, CE1, CE0};
  function integer ce_index(input [8*4-1:0] name);
    ce_index = (name == "CE0") ? 0 : (name == "CE1") ? 1 : (name == "CE2") ? 2 : 3;
  endfunction
  function ok_clk(input [8*4-1:0] name);
    ok_clk = (name == "NONE") || (name == "CLK0");
  endfunction
  initial begin
    if (!ok_clk(REG_INPUTA_CLK) || !ok_clk(REG_INPUTB_CLK) || !ok_clk(REG_OUTPUT_CLK)
        || REG_PIPELINE_CLK != "NONE" || MULT_BYPASS != "DISABLED" || GSR != "DISABLED"
        || RESETMODE != "SYNC")
      $fatal(1, "MULT18X18D model: configuration not modelled");
  end
  always @* if (SIGNEDA !== 1'b0 || SIGNEDB !== 1'b0 || SOURCEA !== 1'b0 || SOURCEB !== 1'b0
                || RST0 !== 1'b0 || RST1 !== 1'b0 || RST2 !== 1'b0 || RST3 !== 1'b0)
    if ($time > 0) $fatal(1, "MULT18X18D model: signed, cascaded or reset use not modelled");

  reg [17:0] a_r, b_r;
  reg [35:0] p_r;
  wire [17:0] a_q = (REG_INPUTA_CLK == "NONE") ? a : a_r;
  wire [17:0] b_q = (REG_INPUTB_CLK == "NONE") ? b : b_r;
  wire [35:0] prod = a_q * b_q;
  always @(posedge CLK0) begin
    if (ce[ce_index(REG_INPUTA_CE)]) a_r <= a;
    if (ce[ce_index(REG_INPUTB_CE)]) b_r <= b;
    if (ce[ce_index(REG_OUTPUT_CE)]) p_r <= prod;
  end
  wire [35:0] p = (REG_OUTPUT_CLK == "NONE") ? prod : p_r;
  assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19,
          P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = p;
endmodule
"""

TESTBENCH = r"""
`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 1;
  reg [W-1:0] a = 0, b = 0;
  reg [15:0] r = 0;
  reg load = 0, fire = 0;
  wire [W-1:0] hi;
  integer fin, fout, n;
  integer va, vb, vr, vl, vf;
  delta dut(.clk(clk), .rst(rst), .a(a), .b(b), .r(r), .load(load), .fire(fire), .hi(hi));
  always #5 clk = ~clk;
  initial begin
    fin = $fopen("stim.txt", "r");
    fout = $fopen("out.txt", "w");
    @(negedge clk) rst = 0;
    while ($fscanf(fin, "%d %d %d %d %d\n", va, vb, vr, vl, vf) == 5) begin
      a = va; b = vb; r = vr; load = vl; fire = vf;
      @(posedge clk);
      #1 $fdisplay(fout, "%0d", hi);
      @(negedge clk);
    end
    $fclose(fout);
    $finish;
  end
endmodule
"""


def _run(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{cmd[0]} failed:\n{done.stdout}\n{done.stderr}"


def _stimulus(width: int, rng: random.Random):
    """Per cycle (a, b, r, load, fire) and the expected ``hi`` after that cycle's clock edge
    (None before the first product): loads and fires back to back, fires later than the
    load, loads without a fire and neither (the registers hold)."""
    one = 1 << (width - 1)
    cases = [(0, one, 0xFFFF), (0, one, 0), (one - 1, one, 0xFFFF), (0, 1, 0xFFFF),
             (0, one, 1), (one // 3, one, 0x8000)]
    for _ in range(300):
        b = rng.randint(1, one)
        a = rng.randint(0, b - 1)
        cases.append((a, b, rng.choice([0, 0xFFFF, rng.randrange(1 << 16)])))
    cycles, want = [], []
    loaded = None          # (a, b, r) in the input registers
    hi = None              # the output register's top bits
    for k, (a, b, r) in enumerate(cases):
        # mostly one new product per cycle (load in t, fire in t+1, overlapping the next load)
        load = 1
        fire = int(loaded is not None and (k % 7 != 3))
        junk = rng.randrange(1 << width), rng.randrange(1 << width), rng.randrange(1 << 16)
        if k % 11 == 5:    # a cycle with neither: everything holds, the inputs are noise
            cycles.append((*junk, 0, 0))
            want.append(hi)
        if fire:
            la, lb, lr = loaded
            hi = (lr * (lb - la)) >> 16
        loaded = (a, b, r)
        cycles.append((a, b, r, load, fire))
        want.append(hi)
        if k % 13 == 8:    # fire without a load: the held operands again, inputs are noise
            la, lb, lr = loaded
            hi = (lr * (lb - la)) >> 16
            cycles.append((*junk, 0, 1))
            want.append(hi)
    la, lb, lr = loaded
    hi = (lr * (lb - la)) >> 16
    cycles.append((0, 0, 0, 0, 1))
    want.append(hi)
    return cycles, want


@pytest.mark.parametrize("width", [10, 16])
def test_ecp5_delta_matches_spec(tmp_path, width):
    """``hi`` is ``(r·(b − a)) >> 16`` of the operands loaded with ``load``, from the cycle
    after ``fire`` until the next one, for every (a, b) with 0 ≤ a < b ≤ ONE and r < 2¹⁶."""
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        pytest.skip("Icarus Verilog not installed (apt-get install iverilog)")
    dut = DeltaGen(width)
    src = verilog.convert(dut, name="delta", platform=make_platform("ulx3s"),
                          ports=[dut.a, dut.b, dut.r, dut.load, dut.fire, dut.hi])
    assert "MULT18X18D" in src, "the ECP5 build instantiates the DSP itself"
    (tmp_path / "delta.v").write_text(src)
    (tmp_path / "model.v").write_text(MODEL)
    (tmp_path / "tb.v").write_text(f"`define W {width}\n"
                                   + TESTBENCH.replace("W-1", "`W-1"))
    cycles, want = _stimulus(width, random.Random(width))
    (tmp_path / "stim.txt").write_text("".join(" ".join(map(str, c)) + "\n" for c in cycles))
    _run(["iverilog", "-g2012", "-s", "tb", "-o", "sim.vvp", "tb.v", "delta.v", "model.v"],
         tmp_path)
    _run(["vvp", "-n", "sim.vvp"], tmp_path)
    got = [None if "x" in x else int(x) for x in (tmp_path / "out.txt").read_text().split()]
    assert len(got) == len(want)
    bad = [(k, cycles[k], g, w) for k, (g, w) in enumerate(zip(got, want, strict=True))
           if w is not None and g != w]
    assert not bad, f"{len(bad)} cycles differ, first: {bad[:5]}"
    assert sum(w is not None for w in want) > 300
