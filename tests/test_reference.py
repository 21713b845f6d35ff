"""Property tests of the bit-exact reference model (SPEC §4–§9)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from dynamarks.host.errors import InputError
from dynamarks.host.fixedpoint import to_float
from dynamarks.host.float_reference import FloatParams, algorithm1_float
from dynamarks.host.params import keygen
from dynamarks.host.reference import ReferenceUnit, alter
from tests.strategies import params_and_vectors, random_params, random_vectors

SETTINGS = settings(max_examples=150, deadline=None)


@SETTINGS
@given(params_and_vectors())
def test_invariants(pv) -> None:
    params, p = pv
    d = ReferenceUnit(params).process_detailed(p)
    # (a) sum preserved exactly; (b) argmax preserved; (c) no wrap.
    assert (d.out.sum(axis=1) == p.sum(axis=1)).all()
    assert (d.out.argmax(axis=1) == p.argmax(axis=1)).all()
    assert d.out.min() >= 0 and d.out.max() < 1 << params.width
    # (d) outside the window: unchanged.
    assert (d.out[~d.in_window] == p[~d.in_window]).all()
    # Only positions i and j ever change, by exactly Δ.
    rows = np.arange(len(p))
    changed = d.out != p
    assert (changed.sum(axis=1) == np.where(d.altered & (d.delta > 0), 2, 0)).all()
    assert (p[rows, d.argmax] - d.out[rows, d.argmax] == np.where(d.altered, d.delta, 0)).all()
    # Δ in [a_i, b_i) for every draw.
    a, b = np.asarray(params.a)[d.argmax], np.asarray(params.b)[d.argmax]
    assert ((a <= d.delta) & (d.delta < b)).all()
    assert ((0 <= d.j) & (d.j < params.classes)).all()


@SETTINGS
@given(params_and_vectors(), st.data())
def test_not_well_formed_passes_unchanged(pv, data) -> None:
    params, p = pv
    bump = data.draw(st.integers(-3, 3).filter(lambda x: x != 0))
    q = p.copy()
    q[:, 0] = np.clip(q[:, 0] + bump, 0, (1 << params.width) - 1)
    bad = q.sum(axis=1) != params.one
    d = ReferenceUnit(params).process_detailed(q)
    assert (d.out[bad] == q[bad]).all()
    assert not d.altered[bad].any()


@SETTINGS
@given(params_and_vectors(), st.lists(st.integers(0, 50), max_size=6))
def test_batch_split_invariance(pv, cuts) -> None:
    params, p = pv
    whole = ReferenceUnit(params).process(p)
    unit = ReferenceUnit(params)
    edges = sorted({0, len(p), *(min(c, len(p)) for c in np.cumsum(cuts))})
    parts = [unit.process(p[s:e]) for s, e in zip(edges, edges[1:], strict=False)]
    assert (np.concatenate(parts) == whole).all()
    assert unit.position == len(p)


@SETTINGS
@given(params_and_vectors(max_m=50), st.integers(0, 2**32 - 1))
def test_constant_keystream_consumption(pv, seed) -> None:
    """Whatever the data (altered or not), a vector consumes one 32-bit word: the outputs
    of later vectors do not depend on earlier vectors' contents."""
    params, p = pv
    rng = np.random.default_rng(seed)
    other = random_vectors(rng, len(p), params)
    tail = random_vectors(rng, 20, params)
    u1, u2 = ReferenceUnit(params), ReferenceUnit(params)
    u1.process(p)
    u2.process(other)
    assert (u1.process(tail) == u2.process(tail)).all()
    assert u1.position == u2.position == len(p) + 20


def test_j_frequencies_match_v() -> None:
    params = keygen(classes=10, seed=7)
    i = 3
    m = 60_000
    p = np.zeros((m, 10), dtype=np.int64)
    p[:, i] = params.one - 100
    p[:, (i + 1) % 10] = 100
    d = ReferenceUnit(params).process_detailed(p)
    observed = np.bincount(d.j, minlength=10)
    expected = params.v_tables()[i] * m
    assert chisquare(observed, expected).pvalue > 1e-4
    # the favoured index really is drawn about twice as often
    fav = int(np.argmax(params.v_tables()[i]))
    assert observed[fav] > 1.6 * np.median(observed)


def test_delta_roughly_uniform() -> None:
    params = keygen(classes=4, seed=3)
    m = 40_000
    p = np.zeros((m, 4), dtype=np.int64)
    p[:, 0] = params.one
    d = ReferenceUnit(params).process_detailed(p)
    a, b = params.a[0], params.b[0]
    hist = np.histogram(d.delta, bins=10, range=(a, b))[0]
    assert chisquare(hist).pvalue > 1e-4


@SETTINGS
@given(params_and_vectors())
def test_fixed_point_equals_float_algorithm1_on_the_same_draws(pv) -> None:
    """Float Algorithm 1 fed the unit's draws gives exactly the unit's output: on dyadic
    values the float arithmetic is exact, so the two differ only in the input check."""
    params, p = pv
    p = p[p.sum(axis=1) == params.one]  # the float algorithm has no well-formedness check
    d = ReferenceUnit(params).process_detailed(p)
    fp = FloatParams.from_params(params)
    one = params.one
    out_f, altered_f = algorithm1_float(to_float(p, params.width), fp, draws=(d.delta / one, d.j))
    assert (altered_f == d.altered).all()
    assert (out_f == to_float(d.out, params.width)).all()


def test_alter_needs_one_word_per_vector() -> None:
    params = keygen(seed=1)
    with pytest.raises(ValueError):
        alter(params, np.zeros((3, 10), dtype=np.int64), np.zeros(2, dtype=np.uint32))


@pytest.mark.parametrize(
    "bad, why",
    [
        (np.zeros((2, 9), dtype=np.int64), "expected vectors of 10 words"),
        (np.zeros((2, 10)), "must be integers"),
        (np.full((2, 10), 1 << 16, dtype=np.int64), "outside"),
        (np.full((2, 10), -1, dtype=np.int64), "outside"),
    ],
)
def test_bad_words_refused_without_consuming_keystream(bad, why) -> None:
    unit = ReferenceUnit(keygen(seed=1))
    with pytest.raises(InputError, match=why):
        unit.process(bad)
    assert unit.position == 0


def test_random_params_helper_is_valid_across_sizes() -> None:
    rng = np.random.default_rng(0)
    for n, w in [(2, 10), (16, 24), (64, 16)]:
        assert random_params(rng, n, w).classes == n
