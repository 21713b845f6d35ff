"""All backends give bit-identical results for the same parameters, key, IV and position.

Backends compared with the reference (the oracle, itself checked against SPEC in
test_host_driver.py): ``rtl`` (the Verilated WatermarkUnit), ``serial`` against the
simulated board (Verilator + pty) and ``serial`` against the protocol-level FakeBoard of
test_host_serial.py. A backend whose dependency is not built is skipped with the reason.
The same comparison runs through ``WatermarkedModel``.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch

from dynamarks.host.driver import Backend, open_backend
from dynamarks.host.params import keygen
from dynamarks.host.torch_wrapper import WatermarkedModel
from tests.strategies import random_params, random_vectors


def _have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@contextlib.contextmanager
def _fake_serial(params, **_: object) -> Iterator[Backend]:
    from tests.test_host_serial import FakeBoard

    board = FakeBoard(params.classes, params.width)
    try:
        with open_backend("serial", params, port=board.port, timeout=1.0) as be:
            yield be
    finally:
        board.close()


@contextlib.contextmanager
def _rtl(params, **_: object) -> Iterator[Backend]:
    with open_backend("rtl", params) as be:
        yield be


@contextlib.contextmanager
def _sim_serial(params, **_: object) -> Iterator[Backend]:
    from dynamarks.sim.board_sim import SimulatedBoard

    with SimulatedBoard(params.classes, params.width) as port, open_backend(
        "serial", params, port=port, timeout=10.0
    ) as be:
        yield be


BACKENDS: dict[str, tuple[Callable, tuple[str, ...]]] = {
    # name: (context manager, modules that must exist)
    "serial-fake": (_fake_serial, ()),
    "rtl": (_rtl, ("dynamarks.host.verilated_unit", "dynamarks.rtl.unit")),
    "serial-sim": (
        _sim_serial, ("dynamarks.sim.board_sim", "dynamarks.rtl.top", "dynamarks.rtl.unit")
    ),
}
MARKS = {"rtl": [pytest.mark.sim], "serial-sim": [pytest.mark.sim, pytest.mark.slow]}


def backend_params() -> list:
    return [pytest.param(name, marks=MARKS.get(name, []), id=name) for name in BACKENDS]


def opener(name: str):
    make, needs = BACKENDS[name]
    for module in needs:
        if not _have(module):
            pytest.skip(f"{module} is not built yet")
    return make


@pytest.mark.parametrize("name", backend_params())
def test_bit_identical_to_reference(name):
    make = opener(name)
    rng = np.random.default_rng(5)
    params = keygen(classes=10, seed=5)
    m = 600 if name == "serial-sim" else 5000
    p = random_vectors(rng, m, params)
    with open_backend("reference", params) as ref:
        want = ref.process(p)
    with make(params) as be:
        got = np.concatenate([be.process(p[: m // 3]), be.process(p[m // 3 :])])
        assert be.position == m
    assert (want != p).any(axis=1).sum() > m // 20
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", backend_params())
def test_known_answers(name):
    """The committed known-answer table (tests/known_answers.py, from the independent SPEC
    model): fixed-point vectors and float rows, each from keystream position 0."""
    from tests import known_answers as kat

    make = opener(name)
    with make(kat.params()) as be:
        assert be.process(np.array(kat.VECTORS)).tolist() == kat.OUTPUTS
    with make(kat.params()) as be:
        y = be.process_float(np.array(kat.ROWS))
    np.testing.assert_array_equal(y, np.array(kat.ROW_OUTPUTS) / (1 << (kat.W - 1)))


@pytest.mark.parametrize("name", [p for p in backend_params() if p.id != "serial-sim"])
def test_bit_identical_other_shapes(name):
    """Another N and W, and random parameter sets with edge-case windows and tables.
    (Not on the simulated board: each shape is another minute-long Verilator build.)"""
    make = opener(name)
    rng = np.random.default_rng(8)
    params = random_params(rng, 4, 12)
    p = random_vectors(rng, 300, params)
    with open_backend("reference", params) as ref:
        want = ref.process(p)
    with make(params) as be:
        np.testing.assert_array_equal(be.process(p), want)


@pytest.mark.parametrize("name", backend_params())
def test_watermarked_model_identical_across_backends(name):
    make = opener(name)
    params = keygen(classes=10, seed=6)
    torch.manual_seed(1)
    model = torch.nn.Linear(16, 10)
    with torch.no_grad():
        model.weight.mul_(8.0)
    x = torch.randn(400, 16)
    want = WatermarkedModel(model, "reference", params=params)(x)
    with make(params) as be:
        got = WatermarkedModel(model, be)(x)
    assert torch.equal(got, want)


@pytest.mark.sim
@pytest.mark.slow
def test_simulated_board_lock_and_serve(tmp_path, capsys):
    """On the simulated board: the backend locks the device, a second host with other
    parameters is refused (DeviceLockedError), and `dynamarks predict --backend serial` gives
    the reference's outputs."""
    opener("serial-sim")
    from dynamarks import cli
    from dynamarks.host.driver import DeviceLockedError
    from dynamarks.host.params import save_params
    from dynamarks.sim.board_sim import SimulatedBoard
    from tests.test_cli_predict import SAMPLES, make_serve_files, oracle

    data, ckpt, model, params, pfile = make_serve_files(tmp_path)
    with SimulatedBoard(10, 16) as port:
        with open_backend("serial", params, port=port, timeout=10.0) as be:
            assert be.status().locked
        with pytest.raises(DeviceLockedError, match="locked"):
            open_backend("serial", keygen(classes=10, seed=99), port=port, timeout=10.0)
    other = tmp_path / "other.dmk"
    save_params(params, other)
    with SimulatedBoard(10, 16) as port:  # a fresh (reset) board
        out = tmp_path / "altered.npy"
        assert cli.main(["predict", "--checkpoint", str(ckpt), "--data", str(data), "--params",
                         str(other), "--backend", "serial", "--port", port, "--timeout", "10",
                         "-o", str(out), "--quiet"]) == 0
    want, _, _ = oracle(model, data, params)
    assert np.load(out).shape == (SAMPLES, 10)
    np.testing.assert_array_equal(np.load(out), want)
