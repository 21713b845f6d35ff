"""The iCE40 form of :class:`~dynamarks.rtl.framer.InputFramer` (with its argmax's hand-placed
``SB_CARRY``/``SB_LUT4`` instances) against the form the proofs and the Amaranth simulations
check (elaborated without a platform): both Verilog netlists side by side in Icarus Verilog,
with yosys's iCE40 cell models (``ice40/cells_sim.v``) for the first, fed the same random
stimulus every cycle — words with random ``first``/``last`` (well-framed runs and malformed
ones), gaps, ``enable`` dropping, the output side's ``taken`` — and every output compared every
cycle. The instances compute the same functions as the generic logic, so any difference is a
bug (tests/test_rtl_argmax_ice40.py checks the argmax alone against numpy's rule).
"""

from __future__ import annotations

import random
import shutil

import pytest
from amaranth import Const, Value
from amaranth.back import verilog

from dynamarks.rtl.framer import InputFramer
from dynamarks.rtl.platforms import make_platform
from tests.icarus_cells import ice40_cells_sim, run_tool

TESTBENCH = r"""
`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 0;
  reg valid = 0, first = 0, last = 0, enable = 0, taken = 0;
  reg [`W-1:0] data = 0;
  wire [`O-1:0] out_a, out_b;
  integer fin, fout, v, f, l, d, e, t;
  framer_ice40 a(.clk(clk), .rst(rst), .sink__valid(valid),
                 .sink__payload({last, first, data}), .enable(enable), .taken(taken),
                 `PORTS_A);
  framer_generic b(.clk(clk), .rst(rst), .sink__valid(valid),
                   .sink__payload({last, first, data}), .enable(enable), .taken(taken),
                   `PORTS_B);
  always #5 clk = ~clk;
  initial begin
    fin = $fopen("stim.txt", "r");
    fout = $fopen("out.txt", "w");
    #1 rst = 1;
    @(negedge clk); @(negedge clk); rst = 0;
    while ($fscanf(fin, "%d %d %d %h %d %d\n", v, f, l, d, e, t) == 6) begin
      valid = v; first = f; last = l; data = d; enable = e; taken = t;
      #1 $fdisplay(fout, "%h %h", out_a, out_b);
      @(negedge clk);
    end
    $fclose(fout);
    $finish;
  end
endmodule
"""

OUTPUTS = ["sink__ready", "buf__en", "buf__pos", "buf__data", "buf__commit",
           "descriptor__valid", "descriptor__payload", "wf", "vectors_in", "rejected",
           "word_in", "vector_done", "vector_dropped"]


def _stimulus(rng: random.Random, n: int, w: int, cycles: int) -> list[str]:
    rows, k, pending_take = [], 0, 0
    for _ in range(cycles):
        valid = int(rng.random() < 0.8)
        if rng.random() < 0.9:              # mostly well framed
            first, last = int(k == 0), int(k == n - 1)
        else:
            first, last = rng.randrange(2), rng.randrange(2)
        if valid:
            k = 0 if last else (1 if first else k + 1) % n
        data = rng.choice([rng.randrange(1 << w), 0, (1 << w) - 1, 1 << (w - 1)])
        enable = int(rng.random() < 0.95)
        pending_take = int(rng.random() < 0.6)
        rows.append(f"{valid} {first} {last} {data:x} {enable} {pending_take}\n")
    return rows


@pytest.mark.parametrize("classes,width", [(10, 16), (3, 12)])
def test_ice40_framer_matches_generic_form(tmp_path, classes, width):
    """Cycle by cycle, every output of the iCE40 netlist equals the generic one's."""
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        pytest.skip("Icarus Verilog not installed (apt-get install iverilog)")
    srcs = []
    for name, platform in (("framer_ice40", make_platform("icebreaker")),
                           ("framer_generic", None)):
        dut = InputFramer(classes, width)
        ports = [Value.cast(v) for _p, _m, v in dut.signature.flatten(dut)]
        src = verilog.convert(dut, name=name, platform=platform,
                              ports=[v for v in ports if not isinstance(v, Const)])
        if platform is not None:
            assert "SB_LUT4" in src and "SB_CARRY" in src, "the iCE40 form was not elaborated"
        srcs.append(src)
    widths = {}
    for path, _member, value in dut.signature.flatten(dut):
        widths["__".join(str(p) for p in path)] = len(Value.cast(value))
    total = sum(widths[o] for o in OUTPUTS)
    conns = {side: ", ".join(
        f".{o}(out_{side}[{sum(widths[x] for x in OUTPUTS[:i]) + widths[o] - 1}:"
        f"{sum(widths[x] for x in OUTPUTS[:i])}])" for i, o in enumerate(OUTPUTS))
        for side in "ab"}
    (tmp_path / "duts.v").write_text("\n".join(srcs))
    (tmp_path / "tb.v").write_text(
        f"`define W {width}\n`define O {total}\n`define PORTS_A {conns['a']}\n"
        f"`define PORTS_B {conns['b']}\n" + TESTBENCH)
    rng = random.Random(classes * 1000 + width)
    (tmp_path / "stim.txt").write_text("".join(_stimulus(rng, classes, width, 6000)))
    run_tool(["iverilog", "-g2012", "-DNO_ICE40_DEFAULT_ASSIGNMENTS", "-s", "tb", "-o", "sim.vvp",
          "tb.v", "duts.v", str(ice40_cells_sim())], tmp_path)
    run_tool(["vvp", "-n", "sim.vvp"], tmp_path)
    got = [line.split() for line in (tmp_path / "out.txt").read_text().splitlines() if line]
    assert len(got) == 6000
    assert all("x" not in a.lower() for a, _b in got[4:]), "X in the iCE40 netlist's outputs"
    bad = [(k, a, b) for k, (a, b) in enumerate(got) if a != b]
    assert not bad, f"{len(bad)} cycles differ, first (cycle, iCE40, generic): {bad[:3]}"
    # the stimulus did exercise the framer: vectors committed and the sink stalled
    assert any(int(a, 16) != int(got[0][0], 16) for a, _b in got)
