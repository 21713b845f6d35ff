"""The unbounded proofs of SPEC §9 (a)–(d) (rtl/formal_induction.py): their lemmas pass, the
whole-unit induction refuses broken units, and the helpers behave.

The whole-unit induction itself (``unit_induction``, minutes) runs in ``make formal`` only;
here it runs on a deliberately broken alter stage of tests/test_formal.py, which it must not
prove (its counterexample to induction is found in about a minute on a busy 2-core machine).
``expected_words`` and ``param_store_reads`` are in the fast set that tests/test_formal.py
runs.
"""

from __future__ import annotations

from unittest import mock

import pytest

from dynamarks.rtl.formal import Job, run_job
from dynamarks.rtl.formal_harness import MAP_MEMORIES
from dynamarks.rtl.formal_induction import (
    INDUCTION_DEPTH,
    TrackedVectorHarness,
    _tuple_names,
    elaborate_observed_unit,
)
from dynamarks.rtl.unit import WatermarkUnit
from tests.test_formal import OffByOneAlter, solver  # noqa: F401 (fixture)


@pytest.mark.formal
@pytest.mark.parametrize("alter", [OffByOneAlter])
def test_induction_refuses_broken_alter(alter, tmp_path, solver):  # noqa: F811
    # (NoReceiverAlter is refused the same way; one mutant keeps make test's formal time
    # bounded, and tests/test_formal.py refuses both by bounded model check as well.)
    job = Job(f"ind_{alter.__name__}", "a", lambda: TrackedVectorHarness(3, 10),
              "prove", INDUCTION_DEPTH, script=MAP_MEMORIES, timeout=600)
    with mock.patch.object(WatermarkUnit, "alter_stage", alter):
        res = run_job(job, solver, root=tmp_path)
    assert res.status in ("FAIL", "UNKNOWN"), res.status
    # refused at the alter stage's output: the word it computes is not SPEC §9's
    assert "Assert failed" in res.detail, res.detail


def test_tuple_names_reads_the_assignment():
    import dynamarks.rtl.sequencer as seq

    src = open(seq.__file__).read().splitlines()
    line = next(k for k, text in enumerate(src, 1) if "o3_valid, o3_first, o3_last" in text)
    assert _tuple_names(seq.__file__, line) == ["o3_valid", "o3_first", "o3_last"]


def test_observed_unit_exposes_the_registers_the_invariants_need():
    # Every register the invariants read is found by name, once (a renamed one fails here,
    # in a second, rather than in the proof).
    unit, _frag, parts = elaborate_observed_unit(3, 10)
    names = {
        "framer": ("in_vec", "in_k", "at_end", "pen", "dropping", "acc_lo", "acc_hi", "acc_c",
                   "pending", "ready_r", "wf_lo", "wf_hi"),
        "buffer": ("wptr", "wbase", "rptr"),
        "queue": ("full", "slot"),
        "sequencer": ("o_k", "starting", "o_idx", "pop_r", "o1_valid", "o1_first", "o1_last",
                      "o1_k", "o1_idx", "o1_max_n", "o1_wf", "head1", "o2_valid", "o2_first",
                      "o2_last",
                      "o2_is_i", "o2_p", "o2_u", "o2_a", "o2_wf", "o3_valid",
                      "o3_first", "o3_last"),
        "sequencer/skid": ("count", "word0", "word1"),
        "sequencer/sampler": ("lt0", "lt", "ge_prev", "first2"),
        "sequencer/delta": ("d1",),
    }
    for part, regs in names.items():
        for r in regs:
            assert parts[part].reg(r).name == r
    assert len(parts["buffer_words"]) == unit.buffer_depth
