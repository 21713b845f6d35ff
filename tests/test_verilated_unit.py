"""The Verilator batch harness (dynamarks.host.verilated_unit) against the bit-exact reference:
same outputs word for word, keystream position carried across calls, counters, errors."""

from __future__ import annotations

import numpy as np
import pytest

from dynamarks.host import verilated_unit, verilator
from dynamarks.host.errors import InputError
from dynamarks.host.params import keygen
from dynamarks.host.reference import ReferenceUnit
from dynamarks.sim.vectors import random_params, random_vectors

pytestmark = pytest.mark.sim

VerilatedUnit = verilated_unit.VerilatedUnit


@pytest.fixture(scope="module")
def unit10():
    with VerilatedUnit(10, 16) as unit:
        yield unit


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bit_exact_across_calls(unit10, seed):
    rng = np.random.default_rng(seed)
    params = random_params(rng, 10, 16) if seed else keygen(10, 16, seed=7)
    warmup = unit10.configure(params)
    assert warmup > 0
    ref = ReferenceUnit(params)
    total = 0
    for m in (1, 3, 997, 20_000, 2):
        p = random_vectors(rng, m, params)
        out = unit10.process(p)
        assert out.dtype == np.int64 and out.shape == p.shape
        np.testing.assert_array_equal(out, ref.process(p))
        total += m
    assert unit10.counters() == {"vectors_in": total, "vectors_out": total, "rejected": 0}
    assert ref.position == total


def test_reconfigure_restarts_the_keystream_and_lock_keeps_working(unit10):
    rng = np.random.default_rng(5)
    params = random_params(rng, 10, 16)
    p = random_vectors(rng, 500, params)
    unit10.configure(params, lock=True)
    assert unit10.status()["locked"] == 1
    first = unit10.process(p)
    unit10.configure(params)  # resets, so a locked unit takes new parameters
    assert unit10.status()["locked"] == 0
    np.testing.assert_array_equal(unit10.process(p), first)
    np.testing.assert_array_equal(first, ReferenceUnit(params).process(p))


def test_one_word_per_clock(unit10):
    params = keygen(10, 16, seed=1)
    unit10.configure(params)
    before = unit10.process_cycles
    m = 5000
    unit10.process(random_vectors(np.random.default_rng(3), m, params))
    cycles = unit10.process_cycles - before
    # M·N clocks to stream plus the pipeline's fill (latency), nothing else.
    assert m * 10 <= cycles <= m * 10 + 10 + 8


def test_other_sizes_are_bit_exact():
    rng = np.random.default_rng(9)
    params = random_params(rng, 4, 12)
    with VerilatedUnit(params) as unit:
        p = random_vectors(rng, 3000, params)
        np.testing.assert_array_equal(unit.process(p), ReferenceUnit(params).process(p))


def test_refuses_bad_input_before_running_a_clock(unit10):
    params = keygen(10, 16, seed=2)
    unit10.configure(params)
    cycles = unit10.cycles
    with pytest.raises(InputError):
        unit10.process(np.full((2, 10), 1 << 16))  # a word wider than W
    with pytest.raises(InputError):
        unit10.process(np.zeros((2, 9), dtype=np.int64))
    with pytest.raises(ValueError):
        unit10.configure(keygen(4, 16, seed=2))
    assert unit10.cycles == cycles
    assert unit10.process(np.zeros((0, 10), dtype=np.int64)).shape == (0, 10)


def test_process_before_configure_is_an_error():
    unit = VerilatedUnit(10, 16)
    try:
        with pytest.raises(verilated_unit.HarnessError, match="configure"):
            unit.process(np.zeros((1, 10), dtype=np.int64))
    finally:
        unit.close()
    with pytest.raises(verilated_unit.HarnessError, match="closed"):
        unit.cycles  # noqa: B018


def test_build_is_cached(unit10):
    lib = verilated_unit.build_library(10, 16)
    assert lib == unit10.lib_path and lib.is_file()


def test_missing_compiler_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler")
    with pytest.raises(verilator.ToolchainError, match="no-such-compiler not found"):
        verilator.require_verilator()
