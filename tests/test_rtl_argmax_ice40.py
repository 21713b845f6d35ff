"""The iCE40 form of :class:`~dynamarks.rtl.argmax.Argmax` (its ``SB_CARRY``/``SB_LUT4``
instances), simulated for real in Icarus Verilog with yosys's own iCE40 cell models
(``ice40/cells_sim.v``), against ``numpy.argmax``'s rule computed here in Python (the maximum,
ties to the lowest index). The proofs and the Amaranth simulations elaborate the argmax without
a platform (the same logic written in Amaranth); this checks that the hand-instantiated cells
compute the same thing: ``max_next``, ``index_next`` and ``index_last`` after each vector's last
word, with stalls between words, runs of ties, and vectors back to back.
"""

from __future__ import annotations

import random
import shutil

import pytest
from amaranth.back import verilog

from dynamarks.rtl.argmax import Argmax
from dynamarks.rtl.platforms import make_platform
from tests.icarus_cells import ice40_cells_sim, run_tool

TESTBENCH = r"""
`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 0;
  reg valid = 0, first = 0;
  reg [`W-1:0] data = 0;
  wire [`W-1:0] max_next;
  wire [`B-1:0] index_next, index_last;
  integer fin, fout, v, f, d, probe;
  argmax dut(.clk(clk), .rst(rst), .valid(valid), .first(first), .data(data),
             .max_next(max_next), .index_next(index_next), .index_last(index_last));
  always #5 clk = ~clk;
  initial begin
    fin = $fopen("stim.txt", "r");
    fout = $fopen("out.txt", "w");
    // reset for two edges (a change of rst, so that every always @* block runs once)
    #1 rst = 1;
    @(negedge clk); @(negedge clk); rst = 0;
    // per cycle: valid first data probe (probe 1: print the result seen in this cycle)
    while ($fscanf(fin, "%d %d %h %d\n", v, f, d, probe) == 4) begin
      valid = v; first = f; data = d;
      #1 if (probe) $fdisplay(fout, "%h %h %h", max_next, index_next, index_last);
      @(negedge clk);
    end
    $fclose(fout);
    $finish;
  end
endmodule
"""


def _vectors(rng: random.Random, n: int, w: int) -> list[list[int]]:
    out = []
    for _ in range(300):
        kind = rng.random()
        if kind < 0.3:
            v = [rng.choice([0, 3, 7, (1 << w) - 1]) for _ in range(n)]      # many ties
        elif kind < 0.4:
            v = [rng.randrange(1 << w)] * n
        elif kind < 0.5:
            v = sorted(rng.randrange(1 << w) for _ in range(n))               # last word wins
        else:
            v = [rng.randrange(1 << w) for _ in range(n)]
        out.append(v)
    return out


@pytest.mark.parametrize("classes,width", [(10, 16), (3, 12)])
def test_ice40_argmax_matches_numpy_rule(tmp_path, classes, width):
    """After each vector's last word (the next cycle, stalls or not) the iCE40 netlist's
    result is (max, lowest index of the max); ``index_last`` equals it there."""
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        pytest.skip("Icarus Verilog not installed (apt-get install iverilog)")
    dut = Argmax(classes, width)
    src = verilog.convert(dut, name="argmax", platform=make_platform("icebreaker"),
                          ports=[dut.valid, dut.first, dut.data, dut.max_next,
                                 dut.index_next, dut.index_last])
    assert "SB_CARRY" in src and "SB_LUT4" in src, "the iCE40 form was not elaborated"
    rng = random.Random(classes * 100 + width)
    vectors = _vectors(rng, classes, width)
    rows: list[list[int]] = []     # valid, first, data, probe (print the result this cycle)
    want, probe_next = [], False

    def add(valid: int, first: int, data: int) -> None:
        nonlocal probe_next
        rows.append([valid, first, data, int(probe_next)])
        probe_next = False

    for v in vectors:
        for k, x in enumerate(v):
            while rng.random() < 0.25:                       # stall cycles between words
                add(0, rng.randrange(2), rng.randrange(1 << width))
            add(1, int(k == 0), x)
        best = max(range(classes), key=lambda k: (v[k], -k))
        want.append((v[best], best, best))
        # the cycle after the last word: an idle cycle or the next vector's word 0
        probe_next = True
        if rng.random() < 0.4:
            add(0, 0, 0)
    add(0, 0, 0)
    lines = [f"{r[0]} {r[1]} {r[2]:x} {r[3]}\n" for r in rows]
    (tmp_path / "stim.txt").write_text("".join(lines))
    (tmp_path / "argmax.v").write_text(src)
    (tmp_path / "tb.v").write_text(
        f"`define W {width}\n`define B {len(dut.index_next)}\n" + TESTBENCH)
    run_tool(["iverilog", "-g2012", "-DNO_ICE40_DEFAULT_ASSIGNMENTS", "-s", "tb", "-o", "sim.vvp",
          "tb.v", "argmax.v", str(ice40_cells_sim())], tmp_path)
    run_tool(["vvp", "-n", "sim.vvp"], tmp_path)
    got = [tuple(int(x, 16) for x in line.split())
           for line in (tmp_path / "out.txt").read_text().split("\n") if line.strip()]
    assert len(got) == len(want)
    bad = [(k, vectors[k], g, w) for k, (g, w) in enumerate(zip(got, want, strict=True))
           if g != w]
    assert not bad, f"{len(bad)} vectors differ, first: {bad[:3]}"
