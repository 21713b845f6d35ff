"""The iCE40 form of the unit's output side, checked as the iCEBreaker build gets it.

On the iCE40 the output sequencer builds Δ whole in the multiplier's ``SB_MAC16``
(``DeltaGen(whole=True)``: ``Δ = a + hi`` in the DSP's post-adder, ``b − a − 1`` in fabric
flip-flops kept out of the DSP) and alters with :class:`MacAlterStage` (``p + Δ·f`` in a
second ``SB_MAC16`` whose output register is the skid buffer's ``word0``); the proofs and
the default simulations elaborate without a platform and so get the split form
(:class:`AlterStage`, ``hi``). Four checks close that gap, each against an independent
oracle (and two more run the synthesised netlists):

* the platform choice itself: elaborated for the iCEBreaker the sequencer holds the whole
  forms, and for no platform or the ULX3S the split ones (so tests that force the whole form,
  tests/test_rtl_unit.py ``test_whole_delta_form``, simulate what the board gets);
* the synthesised Δ generator: ``synth_ice40 -dsp`` of ``DeltaGen(whole=True)`` (one
  ``SB_MAC16``; ``b − a − 1`` in fabric flip-flops, ``r`` and ``a`` in its input registers),
  simulated in Icarus Verilog with
  yosys's own iCE40 cell models, against SPEC §7's formula ``a + ((r · (b − a)) >> 16)`` —
  the mapping of the post-adder and the held registers, bit for bit;
* the synthesised output datapath (Δ generator, alter stage and the register it feeds, as
  the skid buffer's ``word0``): ``synth_ice40 -dsp`` gives two ``SB_MAC16``, the second
  holding ``p``, the add and that register (``CHOLD``, ``OHOLD``), simulated in Icarus
  against SPEC §7 and §9 (``p − Δ`` at i, ``p + Δ`` at j, ``p`` otherwise) with loads,
  fires, words and pushes at random (an undefined bit fails the comparison);
* the whole unit elaborated for the iCEBreaker (DSP counters, whole Δ, the sampler's two
  chains against the complemented C table, everything the board's netlist is made from),
  simulated in Icarus (four-state: undefined values surface) with the iCE40 cell models,
  running every cocotb test of sim/tb_unit.py against the bit-exact reference
  (:class:`~dynamarks.host.reference.ReferenceUnit`), with gaps and back-pressure;
* and what the bitstream is made from: the unit and the whole board top synthesised with
  ``synth_ice40 -dsp`` as the board build does (flattened, block RAMs and DSPs mapped), their
  gate-level netlists in Icarus with the cell models — sim/tb_unit.py against the reference,
  and sim/tb_top.py at the UART pins (yosys's DSP packing once differed between the two: the
  whole top's alter DSP got an undefined input where the unit's did not).
"""

from __future__ import annotations

import json
import random
import shutil

import pytest
from amaranth import Module, Signal
from amaranth.back import rtlil, verilog
from amaranth.hdl import Fragment

from dynamarks.rtl.alter import AlterStage, MacAlterStage
from dynamarks.rtl.delta import DeltaGen
from dynamarks.rtl.platforms import make_platform
from dynamarks.rtl.sequencer import OutputSequencer
from dynamarks.rtl.synth import tool_env
from tests.icarus_cells import ice40_cells_sim, run_tool


def _need_icarus() -> None:
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        pytest.skip("Icarus Verilog not installed (apt-get install iverilog)")


def _origins(frag: Fragment) -> list:
    found = [o for o in getattr(frag, "origins", None) or ()]
    for sub, _name, _loc in frag.subfragments:
        found += _origins(sub)
    return found


@pytest.mark.parametrize("board", [None, "icebreaker", "ulx3s"])
def test_platform_chooses_the_output_form(board):
    platform = make_platform(board) if board else None
    seq = OutputSequencer(10, 16)
    parts = _origins(Fragment.get(seq, platform))
    deltas = [o for o in parts if isinstance(o, DeltaGen)]
    alters = [o for o in parts if isinstance(o, AlterStage | MacAlterStage)]
    assert len(deltas) == 1 and len(alters) == 1
    ice40 = board == "icebreaker"
    assert deltas[0].whole is ice40
    assert isinstance(alters[0], MacAlterStage if ice40 else AlterStage)


DELTA_TB = r"""
`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 1, load = 0, fire = 0;
  reg [15:0] a = 0, b = 0, r = 0;
  wire [15:0] delta;
  integer fin, fout, n;
  reg [15:0] fa, fb, fr;
  reg fl, ff;
  deltagen dut(.clk(clk), .rst(rst), .a(a), .b(b), .r(r), .load(load), .fire(fire),
               .delta(delta));
  always #5 clk = ~clk;
  initial begin
    fin = $fopen("stim.txt", "r");
    fout = $fopen("out.txt", "w");
    @(negedge clk); rst = 0;
    while ($fscanf(fin, "%d %d %h %h %h\n", fl, ff, fa, fb, fr) == 5) begin
      load = fl; fire = ff; a = fa; b = fb; r = fr;
      @(posedge clk);
      #1 $fdisplay(fout, "%h", delta);
      @(negedge clk);
    end
    $fclose(fout);
    $finish;
  end
endmodule
"""


def _delta_stimulus(rng: random.Random, width: int):
    """(load, fire, a, b, r) per cycle and Δ after each clock edge from the SPEC formula
    (None until the first fire). Valid sets (a < b ≤ ONE) with r at its ends and at random;
    loads and fires at random, including fires without a new load and loads that no fire
    follows for a while (the output holds)."""
    one = 1 << (width - 1)
    ops, want = [], []
    held = None            # Δ in the output register
    loaded = None          # (a, b, r) of the last load
    for _ in range(3000):
        b = rng.choice([one, rng.randint(1, one)])
        a = rng.choice([0, b - 1, rng.randint(0, b - 1)])
        r = rng.choice([0, 0xFFFF, rng.randrange(1 << 16)])
        load, fire = rng.random() < 0.6, rng.random() < 0.5
        if fire and loaded is not None:
            la, lb, lr = loaded
            held = la + ((lr * (lb - la)) >> 16)      # SPEC §7
            assert la <= held < lb
        if load:
            loaded = (a, b, r)
        ops.append((int(load), int(fire and loaded is not None), a, b, r))
        want.append(held)
    return ops, want


def test_ice40_whole_delta_netlist_matches_spec(tmp_path):
    """``synth_ice40 -dsp`` of DeltaGen(whole=True): one SB_MAC16 and ``b − a − 1`` in fabric
    flip-flops; in Icarus with the iCE40 cell models its Δ after every clock edge is SPEC
    §7's for the operands of the last load before the last fire."""
    _need_icarus()
    width = 16
    dut = DeltaGen(width, whole=True)
    ports = [dut.a, dut.b, dut.r, dut.load, dut.fire, dut.delta]
    (tmp_path / "d.il").write_text(rtlil.convert(dut, name="deltagen", ports=ports,
                                                 platform=make_platform("icebreaker")))
    run_tool([tool_env()["YOSYS"], "-q", "-p", "read_rtlil d.il; synth_ice40 -dsp -top deltagen; "
             "tee -q -o stat.json stat -json; write_verilog -noattr deltagen.v"],
             tmp_path, timeout=300)
    text = (tmp_path / "stat.json").read_text()
    cells = json.loads(text[text.index("{"):])["modules"]["\\deltagen"]["num_cells_by_type"]
    assert cells.get("SB_MAC16") == 1, cells
    # b − a − 1 in fabric flip-flops (on `load`); r (A), r and a (D and C: the addend) in the
    # DSP's input registers, the sum in its output register
    assert sum(v for k, v in cells.items() if k.startswith("SB_DFF")) == width, cells
    (tmp_path / "tb.v").write_text(DELTA_TB)
    ops, want = _delta_stimulus(random.Random(7), width)
    (tmp_path / "stim.txt").write_text(
        "".join(f"{lo} {fi} {a:x} {b:x} {r:x}\n" for lo, fi, a, b, r in ops))
    run_tool(["iverilog", "-g2012", "-DNO_ICE40_DEFAULT_ASSIGNMENTS", "-s", "tb", "-o", "sim.vvp",
              "tb.v", "deltagen.v", str(ice40_cells_sim())], tmp_path, timeout=300)
    run_tool(["vvp", "-n", "sim.vvp"], tmp_path, timeout=300)
    got = (tmp_path / "out.txt").read_text().split()
    assert len(got) == len(want)
    bad = [(k, ops[k], g, w) for k, (g, w) in enumerate(zip(got, want, strict=True))
           if w is not None and int(g, 16) != w]
    assert not bad, f"{len(bad)} cycles differ, first: {bad[:5]}"
    assert sum(w is not None for w in want) > 2500


class _OutputDatapath(MacAlterStage):
    """The iCE40 output datapath as the sequencer joins it: DeltaGen(whole=True) (Δ in its
    DSP's output register on ``fire``) into MacAlterStage, whose output feeds the register
    the skid buffer's ``word0`` is (loaded on ``push``, no reset). One module, so that
    synthesis sees the two multipliers and the registers between them together."""

    def __init__(self, width: int):
        super().__init__(width)
        self.a = Signal(width, name="a")
        self.b = Signal(width, name="b")
        self.r = Signal(16, name="r")
        self.load = Signal(name="load")
        self.fire = Signal(name="fire")
        self.push = Signal(name="push")
        self.word = Signal(width, name="word")

    def elaborate(self, platform):
        m = Module()
        m.submodules.delta = delta = DeltaGen(self.width, whole=True)
        m.submodules.alter = alter = MacAlterStage(self.width)
        for name in ("a", "b", "r", "load", "fire"):
            m.d.comb += getattr(delta, name).eq(getattr(self, name))
        for name in ("en", "p", "is_i", "ok", "hit"):
            m.d.comb += getattr(alter, name).eq(getattr(self, name))
        m.d.comb += alter.delta.eq(delta.delta)
        word = Signal(self.width, reset_less=True)
        with m.If(self.push):
            m.d.sync += word.eq(alter.out)
        m.d.comb += self.word.eq(word)
        return m


DATAPATH_TB = r"""
`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 1, load = 0, fire = 0, en = 0, is_i = 0, ok = 0, hit = 0, push = 0;
  reg [15:0] a = 0, b = 0, r = 0, p = 0;
  wire [15:0] word;
  integer fin, fout;
  reg [15:0] fa, fb, fr, fp;
  reg fl, ff, fe, fi, fo, fh, fu;
  datapath dut(.clk(clk), .rst(rst), .a(a), .b(b), .r(r), .load(load), .fire(fire),
               .en(en), .p(p), .is_i(is_i), .ok(ok), .hit(hit), .push(push), .word(word));
  always #5 clk = ~clk;
  initial begin
    fin = $fopen("stim.txt", "r");
    fout = $fopen("out.txt", "w");
    @(negedge clk); rst = 0;
    while ($fscanf(fin, "%d %d %h %h %h %d %d %d %d %d %h\n",
                   fl, ff, fa, fb, fr, fe, fi, fo, fh, fu, fp) == 11) begin
      load = fl; fire = ff; a = fa; b = fb; r = fr;
      en = fe; is_i = fi; ok = fo; hit = fh; push = fu; p = fp;
      @(posedge clk);
      #1 $fdisplay(fout, "%h", word);
      @(negedge clk);
    end
    $fclose(fout);
    $finish;
  end
endmodule
"""


def _datapath_stimulus(rng: random.Random, width: int):
    """Inputs per cycle and the word register after each clock edge (None until defined),
    from SPEC §7 (Δ = a + ((r · (b − a)) >> 16) for the last load before the last fire) and
    SPEC §9 (a push stores the word last taken on ``en``: p − Δ at i, p + Δ at j, else p),
    every register updated from its state before the edge."""
    mask, one = (1 << width) - 1, 1 << (width - 1)
    ops, want = [], []
    loaded = taken = held = word = None
    for _ in range(4000):
        b = rng.choice([one, rng.randint(1, one)])
        a = rng.choice([0, b - 1, rng.randint(0, b - 1)])
        r = rng.choice([0, 0xFFFF, rng.randrange(1 << 16)])
        load, fire = int(rng.random() < 0.3), int(rng.random() < 0.3)
        en, push = int(rng.random() < 0.7), int(rng.random() < 0.7)
        is_i, ok, hit = rng.randrange(2), int(rng.random() < 0.8), rng.randrange(2)
        p = rng.choice([0, mask, rng.randrange(1 << width)])
        fire = int(fire and loaded is not None)
        new_word, new_held = word, held
        if push and taken is not None and held is not None:
            tp, ti, to, th = taken
            if to and ti and not th:
                new_word = (tp - held) & mask
            elif to and th and not ti:
                new_word = (tp + held) & mask
            else:
                new_word = tp
        if fire:
            la, lb, lr = loaded
            new_held = la + ((lr * (lb - la)) >> 16)
        if en:
            taken = (p, is_i, ok, hit)
        if load:
            loaded = (a, b, r)
        word, held = new_word, new_held
        ops.append((load, fire, a, b, r, en, is_i, ok, hit, push, p))
        want.append(word)
    return ops, want


def test_ice40_output_datapath_netlist_matches_spec(tmp_path):
    """``synth_ice40 -dsp`` of the iCE40 output datapath (Δ generator, alter stage, the
    register it feeds): two SB_MAC16, the second holding ``p`` (input register), the add and
    the word register (output register, held without a push), no carry chain after Δ; only
    ``b − a − 1`` and the factor's bits in fabric flip-flops. In Icarus with the iCE40 cell
    models the word after every clock edge is SPEC §7 + §9's."""
    _need_icarus()
    width = 16
    dut = _OutputDatapath(width)
    ports = [dut.a, dut.b, dut.r, dut.load, dut.fire, dut.en, dut.p, dut.is_i, dut.ok,
             dut.hit, dut.push, dut.word]
    (tmp_path / "d.il").write_text(rtlil.convert(dut, name="datapath", ports=ports,
                                                 platform=make_platform("icebreaker")))
    run_tool([tool_env()["YOSYS"], "-q", "-p", "read_rtlil d.il; synth_ice40 -dsp -top datapath; "
             "tee -q -o stat.json stat -json; write_verilog -noattr datapath.v"],
             tmp_path, timeout=300)
    text = (tmp_path / "stat.json").read_text()
    cells = json.loads(text[text.index("{"):])["modules"]["\\datapath"]["num_cells_by_type"]
    assert cells.get("SB_MAC16") == 2, cells
    # b − a − 1 (one chain, its flip-flops) and the factor's two bits; nothing else in fabric
    assert sum(v for k, v in cells.items() if k.startswith("SB_DFF")) == width + 2, cells
    assert cells.get("SB_CARRY", 0) < width, cells
    (tmp_path / "tb.v").write_text(DATAPATH_TB)
    ops, want = _datapath_stimulus(random.Random(11), width)
    (tmp_path / "stim.txt").write_text("".join(
        f"{lo} {fi} {a:x} {b:x} {r:x} {e} {i} {o} {h} {u} {p:x}\n"
        for lo, fi, a, b, r, e, i, o, h, u, p in ops))
    run_tool(["iverilog", "-g2012", "-DNO_ICE40_DEFAULT_ASSIGNMENTS", "-s", "tb", "-o", "sim.vvp",
              "tb.v", "datapath.v", str(ice40_cells_sim())], tmp_path, timeout=300)
    run_tool(["vvp", "-n", "sim.vvp"], tmp_path, timeout=300)
    got = (tmp_path / "out.txt").read_text().split()
    assert len(got) == len(want)
    bad = [(k, ops[k], g, w) for k, (g, w) in enumerate(zip(got, want, strict=True))
           if w is not None and g != f"{w:04x}"]
    assert not bad, f"{len(bad)} cycles differ, first: {bad[:5]}"
    assert sum(w is not None for w in want) > 3900
    assert len({w for w in want if w is not None}) > 800       # not stuck at a few values


def _ice40_unit_verilog(classes: int, width: int) -> str:
    """The unit's Verilog as elaborated for the iCEBreaker, with yosys's iCE40 cell models
    (the SB_MAC16 instances of its counters) appended."""
    from dynamarks.rtl.unit import WatermarkUnit

    unit = WatermarkUnit(classes=classes, width=width)
    text = verilog.convert(unit, name="watermark_unit", emit_src=False,
                           platform=make_platform("icebreaker"))
    assert "SB_MAC16" in text
    return ("`define NO_ICE40_DEFAULT_ASSIGNMENTS\n" + text + "\n"
            + ice40_cells_sim().read_text())


@pytest.mark.sim
@pytest.mark.slow
def test_ice40_unit_in_icarus():
    """Every sim/tb_unit.py test on the iCEBreaker's unit (N=10, W=16) in Icarus."""
    _need_icarus()
    from dynamarks.sim.runner import Bench, run_bench

    bench = Bench(
        name="unit_ice40_n10_w16",
        verilog=lambda: _ice40_unit_verilog(10, 16),
        test_module="dynamarks.sim.tb_unit",
        simulators=("icarus",),
        toplevel="watermark_unit",
        env={"DMK_CLASSES": "10", "DMK_WIDTH": "16", "DMK_VECTORS": "300"},
    )
    result = run_bench(bench, "icarus", seed=1)
    print(f"{bench.name}: {result.passed}/{result.tests} tests, build {result.build_s:.1f} s, "
          f"run {result.run_s:.1f} s")
    assert result.ok, result.summary()
    assert result.tests >= 8        # every test of sim/tb_unit.py ran


def _ice40_netlist(design, name: str, workdir) -> str:
    """``design`` as an iCE40 bitstream gets it: elaborated for the iCEBreaker, synthesised by
    ``synth_ice40 -dsp`` (flattened, with the board build's memory settings), written as a
    gate-level netlist of SB_LUT4 / SB_CARRY / SB_DFF* / SB_RAM40_4K / SB_MAC16 cells, with
    yosys's iCE40 cell models appended. Stops on an undefined DSP input (as the board flow)."""
    from dynamarks.rtl.synth import NO_RW_CHECK_SCRIPT, undefined_dsp_inputs

    (workdir / "d.il").write_text(rtlil.convert(design, name=name,
                                                platform=make_platform("icebreaker")))
    script = "; ".join(["read_rtlil d.il", *NO_RW_CHECK_SCRIPT, f"synth_ice40 -dsp -top {name}",
                        "write_json d.json", "write_verilog -noattr d_gl.v"])
    run_tool([tool_env()["YOSYS"], "-q", "-p", script], workdir, timeout=900)
    assert not undefined_dsp_inputs(json.loads((workdir / "d.json").read_text()))
    text = (workdir / "d_gl.v").read_text()
    assert "SB_MAC16" in text and "SB_RAM40_4K" in text
    return ("`define NO_ICE40_DEFAULT_ASSIGNMENTS\n" + text + "\n"
            + ice40_cells_sim().read_text())


@pytest.mark.sim
@pytest.mark.slow
def test_ice40_unit_netlist_in_icarus(tmp_path):
    """Every sim/tb_unit.py test on the iCEBreaker's synthesised unit (N=10, W=16): the
    gate-level netlist yosys hands to nextpnr, in Icarus with the iCE40 cell models, against
    the bit-exact reference — what the DSP, block-RAM and LUT mapping make of the unit, not
    only what the Amaranth code says."""
    _need_icarus()
    from dynamarks.rtl.unit import WatermarkUnit
    from dynamarks.sim.runner import Bench, run_bench

    netlist = _ice40_netlist(WatermarkUnit(classes=10, width=16), "watermark_unit", tmp_path)
    bench = Bench(
        name="unit_ice40_netlist_n10_w16",
        verilog=lambda: netlist,
        test_module="dynamarks.sim.tb_unit",
        simulators=("icarus",),
        toplevel="watermark_unit",
        env={"DMK_CLASSES": "10", "DMK_WIDTH": "16", "DMK_VECTORS": "150"},
    )
    result = run_bench(bench, "icarus", seed=1)
    print(f"{bench.name}: {result.passed}/{result.tests} tests, build {result.build_s:.1f} s, "
          f"run {result.run_s:.1f} s")
    assert result.ok, result.summary()
    assert result.tests >= 8        # every test of sim/tb_unit.py ran


@pytest.mark.sim
@pytest.mark.slow
def test_ice40_top_netlist_in_icarus(tmp_path):
    """sim/tb_top.py on the synthesised whole board top (UART at 4 clocks a bit, N=10, W=16):
    the gate-level netlist in Icarus with the iCE40 cell models, every reply at the UART pins
    against the bit-exact reference and the protocol's rules. (Where two DSPs meet, yosys's
    packing has differed between the unit and the whole top: this is the netlist the board
    gets.)"""
    _need_icarus()
    from dynamarks.rtl.top import BoardTop
    from dynamarks.sim.board_sim import TOP_NAME
    from dynamarks.sim.runner import Bench, run_bench

    top = BoardTop(classes=10, width=16, clk_freq=4 * 3_000_000, baud=3_000_000)
    netlist = _ice40_netlist(top, TOP_NAME, tmp_path)
    bench = Bench(
        name="board_top_ice40_netlist",
        verilog=lambda: netlist,
        test_module="dynamarks.sim.tb_top",
        simulators=("icarus",),
        toplevel=TOP_NAME,
        env={"DMK_FUZZ": "40"},
    )
    result = run_bench(bench, "icarus", seed=1)
    print(f"{bench.name}: {result.passed}/{result.tests} tests, build {result.build_s:.1f} s, "
          f"run {result.run_s:.1f} s")
    assert result.ok, result.summary()
    assert result.tests >= 4        # every test of sim/tb_top.py ran
