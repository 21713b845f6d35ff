"""The Trivium block's emitted Verilog in Icarus (four-state): no X, and the right keystream.

The Amaranth simulator and Verilator are two-state: a register whose next-state logic was
never evaluated reads as its initial value there, but as X in Icarus, where yosys's
``always @*`` blocks run only when one of their inputs changes. The unit's Icarus benches
caught that once (the first load after power-up gave X or a wrong keystream, later loads were
right). This test drives the converted block from a per-cycle script — inputs unknown until
just after time 0, as under cocotb — through reset, three key/IV loads (the first start as
early as allowed, a key rewrite while words are being taken, a reset in mid-stream) with random
stalls on ``keystream.ready``, and checks every cycle's ``valid``/``running`` for X/Z and every
word taken against the bit-serial model of tests/rtl_support.py (itself checked against the
published eSTREAM vectors in tests/test_rtl_trivium.py).
"""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from rtl_support import keystream_words  # noqa: E402

pytestmark = pytest.mark.sim


@dataclass(frozen=True)
class Cycle:
    """Inputs applied for one clock cycle (before its rising edge)."""

    rst: int = 0
    key_we: int = 0
    key_addr: int = 0
    key_data: int = 0
    start: int = 0
    ready: int = 0


_TB = """\
`timescale 1ns/1ps
module tb;
  // Inputs start unknown and are first driven after time 0, as a cocotb bench does them.
  reg clk = 0, rst, key_we, start, ready;
  reg [2:0] key_addr;
  reg [31:0] key_data;
  wire running, valid;
  wire [31:0] payload;
  reg [{sw}:0] stim [0:{last}];
  integer c;
  trivium dut(.clk(clk), .rst(rst), .key_we(key_we), .key_addr(key_addr),
              .key_data(key_data), .start(start), .running(running),
              .keystream__valid(valid), .keystream__ready(ready),
              .keystream__payload(payload));
  initial begin
    $readmemb("{stim}", stim);
    #1;
    for (c = 0; c <= {last}; c = c + 1) begin
      {{rst, key_we, key_addr, key_data, start, ready}} = stim[c];
      #1;
      if (valid !== 1'b0 || running !== 1'b0)
        $display("C %0d %b %b %b", c, running, valid, payload);
      #4 clk = 1;
      #5 clk = 0;
    end
    $finish;
  end
endmodule
"""


def run_icarus(bits: int, cycles: list[Cycle], tmp_path: Path) -> dict[int, tuple[str, str, str]]:
    """cycle → (running, valid, payload) as Icarus's 0/1/x/z strings, for every cycle where
    ``running`` or ``valid`` is not 0 (sampled after the inputs settle, before the edge)."""
    from amaranth.back import verilog

    from dynamarks.rtl.trivium import Trivium
    from dynamarks.sim import toolchain

    toolchain.require("icarus")             # missing Icarus is a failure, not a skip
    (tmp_path / "trivium.v").write_text(verilog.convert(Trivium(bits), name="trivium"))
    rows = [f"{c.rst:b}{c.key_we:b}{c.key_addr:03b}{c.key_data:032b}{c.start:b}{c.ready:b}"
            for c in cycles]
    (tmp_path / "stim.txt").write_text("\n".join(rows) + "\n")
    (tmp_path / "tb.v").write_text(_TB.format(sw=len(rows[0]) - 1, last=len(rows) - 1,
                                              stim=tmp_path / "stim.txt"))
    subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "sim"),
                    str(tmp_path / "tb.v"), str(tmp_path / "trivium.v")],
                   check=True, capture_output=True, text=True)
    out = subprocess.run(["vvp", "-n", str(tmp_path / "sim")], check=True,
                         capture_output=True, text=True).stdout
    seen = {}
    for line in out.splitlines():
        if line.startswith("C "):
            _, c, running, valid, payload = line.split()
            seen[int(c)] = (running, valid, payload)
    return seen


def _script(bits: int, rng: random.Random, p_ready: float, words: int):
    """Reset, then three loads: (cycles, [(start cycle, end cycle, key, iv)])."""
    cycles = [Cycle(rst=1), Cycle(rst=1)]
    loads = []
    for k in range(3):
        key, iv = rng.randbytes(10), rng.randbytes(10)
        blob = key + iv
        if k == 2:                                   # a reset in mid-stream
            cycles.append(Cycle(rst=1, ready=1))
        if loads:
            loads[-1] = (*loads[-1][:1], len(cycles), *loads[-1][2:])
        for w in rng.sample(range(5), 5):            # any order; words still being taken
            cycles.append(Cycle(key_we=1, key_addr=w, ready=rng.random() < p_ready,
                                key_data=int.from_bytes(blob[4 * w:4 * w + 4], "little")))
        # The earliest start the block accepts: a word counts two cycles after its write.
        cycles.append(Cycle(ready=rng.random() < p_ready))
        loads.append((len(cycles), None, key, iv))
        cycles.append(Cycle(start=1, ready=rng.random() < p_ready))
        run = 1 + -(-111 // bits) + (1152 + 32) // bits + int(words * 32 / bits / p_ready)
        cycles += [Cycle(ready=rng.random() < p_ready) for _ in range(run)]
    loads[-1] = (*loads[-1][:1], len(cycles), *loads[-1][2:])
    return cycles, loads


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_icarus_keystream_defined_and_right_over_reloads(bits, tmp_path):
    rng = random.Random(bits)
    cycles, loads = _script(bits, rng, p_ready=0.6, words=12)
    seen = run_icarus(bits, cycles, tmp_path)
    for c, (running, valid, _) in seen.items():
        assert set(running + valid) <= {"0", "1"}, f"running/valid not 0/1 in cycle {c}"
    for k, (start, end, key, iv) in enumerate(loads):
        span = [c for c in sorted(seen) if start < c < end]
        # valid is first high 1 + ⌈111/bits⌉ + (1152 + 32)/bits clock edges (take the
        # start, load, warm-up, first word) after the edge that ends the start's cycle
        first = next(c for c in span if seen[c][1] == "1")
        assert first - 1 - start == 1 + -(-111 // bits) + (1152 + 32) // bits, f"load {k}"
        taken = [seen[c][2] for c in span if seen[c][1] == "1" and cycles[c].ready]
        assert len(taken) >= 8, f"load {k}: only {len(taken)} words"
        for n, word in enumerate(taken):
            assert set(word) <= {"0", "1"}, f"load {k}, word {n}: {word}"
        assert [int(w, 2) for w in taken] == keystream_words(key, iv, len(taken)), f"load {k}"
