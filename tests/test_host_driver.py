"""The driver interface (dynamarks.host.driver) and the reference backend.

Oracle: the independent SPEC model of tests/spec_model.py (plain Python, its own Trivium,
checked against eSTREAM and the committed known-answer table), one stream from position 0,
whatever the driver's batching; and the known-answer table itself.
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from dynamarks.host.driver import Backend, BackendError, open_backend
from dynamarks.host.errors import DynamarksError, InputError
from dynamarks.host.fixedpoint import to_fixed, to_float
from dynamarks.host.params import keygen
from tests import known_answers as kat
from tests import spec_model
from tests.strategies import random_params, random_vectors

expected = spec_model.expected_outputs  # SPEC §4–§9 by the independent model, position 0


def test_known_answers_through_the_driver():
    with open_backend("reference", kat.params()) as be:
        be.max_batch = 5
        assert be.process(np.array(kat.VECTORS)).tolist() == kat.OUTPUTS
        assert be.position == len(kat.VECTORS)
    with open_backend("reference", kat.params()) as be:
        y = be.process_float(np.array(kat.ROWS))
    np.testing.assert_array_equal(y, np.array(kat.ROW_OUTPUTS) / (1 << (kat.W - 1)))


@pytest.fixture
def params():
    return keygen(classes=10, seed=7)


def test_reference_backend_matches_spec_whatever_the_batching(params):
    rng = np.random.default_rng(1)
    p = random_vectors(rng, 3000, params)
    want = expected(params, p)
    assert (want != p).any(axis=1).sum() > 100  # the test data exercises alteration
    with open_backend("reference", params) as be:
        be.max_batch = 97  # force the driver to split
        got = []
        cuts = [0, 1, 2, 500, 1499, 1500, 2999, 3000]
        seen = []
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            got.append(be.process(p[lo:hi], progress=seen.append))
            assert be.position == hi
        assert sum(seen) == 3000 and max(seen) == 97
        assert be.process(p[:0]).shape == (0, 10) and be.position == 3000
    np.testing.assert_array_equal(np.concatenate(got), want)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_params_and_widths(seed):
    rng = np.random.default_rng(seed)
    prm = random_params(rng, int(rng.integers(2, 17)), int(rng.integers(10, 25)))
    p = random_vectors(rng, 400, prm)
    with open_backend("reference", prm) as be:
        np.testing.assert_array_equal(be.process(p), expected(prm, p))


def test_bad_input_is_refused_before_consuming_keystream(params):
    be = open_backend("reference", params)
    good = random_vectors(np.random.default_rng(2), 5, params)
    with pytest.raises(InputError, match="10 words"):
        be.process(good[:, :9])
    with pytest.raises(InputError, match="integers"):
        be.process(good.astype(np.float64))
    bad = good.copy()
    bad[3, 2] = 1 << 16
    with pytest.raises(InputError, match="vector 3"):
        be.process(bad)
    assert be.position == 0
    np.testing.assert_array_equal(be.process(good), expected(params, good))
    be.close()
    with pytest.raises(BackendError, match="closed"):
        be.process(good)


class _Dropping(Backend):
    """A broken backend: loses the last vector of every batch."""

    name = "dropping"

    def _process(self, p):
        return p[:-1]


class _Widening(Backend):
    name = "widening"

    def _process(self, p):
        return np.concatenate([p, p[:, :1]], axis=1)


@pytest.mark.parametrize("cls", [_Dropping, _Widening])
def test_count_contract_is_enforced(params, cls):
    be = cls(params)
    p = random_vectors(np.random.default_rng(3), 8, params)
    with pytest.raises(BackendError, match="one output per input"):
        be.process(p)
    assert be.position == 0


def test_process_float(params):
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(2000, 10)) * 4
    x = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    with open_backend("reference", params) as be:
        y = be.process_float(x)
    assert y.dtype == np.float64 and y.shape == x.shape
    np.testing.assert_array_equal(y, to_float(expected(params, to_fixed(x, 16)), 16))
    assert (y.sum(axis=1) == 1.0).all()
    assert (y.argmax(axis=1) == x.argmax(axis=1)).all()  # the float top-1 (SPEC §2, §3.1)
    with pytest.raises(InputError):
        open_backend("reference", params).process_float(x * 2)


def test_factory_errors(params):
    with pytest.raises(BackendError, match="unknown backend 'fpga'"):
        open_backend("fpga", params)
    with pytest.raises(TypeError):
        open_backend("reference", params, port="/dev/null")
    assert repr(open_backend("reference", params)).startswith("ReferenceBackend(classes=10")


def test_backend_options_from_args():
    from dynamarks.cli.options import add_backend_options, backend_opts_from_args

    p = argparse.ArgumentParser()
    add_backend_options(p)
    args = p.parse_args(["--backend", "serial", "--port", "/dev/pts/9", "--timeout", "2"])
    assert backend_opts_from_args(args) == {"port": "/dev/pts/9", "timeout": 2.0}
    with pytest.raises(DynamarksError, match="needs --port"):
        backend_opts_from_args(p.parse_args(["--backend", "serial"]))
    with pytest.raises(DynamarksError, match="serial backend only"):
        backend_opts_from_args(p.parse_args(["--port", "x"]))
    assert backend_opts_from_args(p.parse_args([])) == {}
