"""`dynamarks serve` end to end (a real process on a loopback socket), its user errors, the
OIP client, and the attacker's HTTP path: answers bit-identical to the in-process API."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dynamarks.cli import main
from dynamarks.host.errors import DynamarksError
from dynamarks.host.fixedpoint import to_fixed, to_float
from dynamarks.host.oip_client import OipClient
from dynamarks.host.params import keygen, save_params
from dynamarks.host.reference import ReferenceUnit
from dynamarks.models.api import ProtectedAPI
from dynamarks.models.checkpoint import save_checkpoint
from dynamarks.models.model_file import open_model
from dynamarks.models.networks import build


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path, torch.nn.Module, object]:
    d = tmp_path_factory.mktemp("serve")
    net = build("fmnist_cnn", 1, 10, 28, seed=0)
    save_checkpoint(d / "fm.pt", net, dataset="fmnist")
    params = keygen(10, 16, seed=21)
    save_params(params, d / "p.dmk")
    return d / "fm.pt", d / "p.dmk", net, params


def in_process(net, params, x: np.ndarray) -> np.ndarray:
    """The in-process protected API (host's WatermarkedModel on a fresh reference unit)."""
    with ProtectedAPI(net, params, "reference") as api:
        return api.query(torch.from_numpy(x))


def test_serve_answers_a_plain_http_client_and_stops_on_sigterm(files):
    model, params_file, net, params = files
    cmd = [sys.executable, "-m", "dynamarks", "serve", "--model", str(model), "--params",
           str(params_file), "--http-port", "0", "--model-name", "fm"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stderr.readline()
        m = re.search(r"on (http://127\.0\.0\.1:\d+/v2/models/fm) ", line)
        assert m, line
        x = np.random.default_rng(0).random((7, 1, 28, 28), dtype=np.float32)
        with OipClient(m.group(1), timeout=120) as c:
            for _ in range(1200):  # wait for start-up by events (metadata answers), bounded
                try:
                    meta = c.metadata()
                    break
                except DynamarksError:
                    time.sleep(0.05)
            assert meta["inputs"][0]["shape"] == [-1, 1, 28, 28]
            got = np.concatenate([c.infer(x[:3]), c.infer(x[3:])])
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = proc.stderr.read()
    assert proc.returncode in (0, -signal.SIGTERM)
    # the oracle: the model file's probabilities (models.model_file, tested on its own),
    # SPEC §2, and a fresh bit-exact reference unit from keystream position 0
    probs = open_model(model).predict_proba(x)
    unit = ReferenceUnit(params)
    want = to_float(unit.process(to_fixed(probs, params.width, params.classes)), params.width)
    assert np.array_equal(got, want)
    access = [ln for ln in log.splitlines() if ln.startswith("{")]
    assert any('"path": "/v2/models/fm/infer"' in ln and '"vectors": 3' in ln for ln in access)
    assert "Application shutdown complete" in log


@pytest.mark.parametrize("extra, message", [
    (["--port", "/dev/ttyUSB9"], "serial backend only"),
    (["--http-port", "70000"], "not a TCP port"),
    (["--model-name", "a/b"], "model name"),
    (["--max-batch", "0"], "--max-batch"),
])
def test_user_errors_are_one_line_and_exit_2(files, capsys, extra, message):
    model, params_file, *_ = files
    rc = main(["serve", "--model", str(model), "--params", str(params_file), *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1


def test_a_missing_model_file_is_a_user_error(files, tmp_path, capsys):
    _, params_file, *_ = files
    rc = main(["serve", "--model", str(tmp_path / "none.pt"), "--params", str(params_file)])
    assert rc == 2 and capsys.readouterr().err.count("\n") == 1


def test_client_failures_are_one_line():
    with pytest.raises(DynamarksError, match="not an OIP model URL"):
        OipClient("http://127.0.0.1:1/v1/models/x")
    with OipClient("http://127.0.0.1:1/v2/models/x", timeout=5) as c, pytest.raises(
        DynamarksError
    ) as err:
        c.infer(np.zeros((1, 1, 28, 28), np.float32))
    assert "\n" not in str(err.value) and "127.0.0.1:1" in str(err.value)


def test_the_attacker_over_http_gets_what_the_in_process_api_answers(files):
    from dynamarks.models.server_loopback import served_api

    _, _, net, params = files
    x = np.random.default_rng(1).random((40, 1, 28, 28), dtype=np.float32)
    with served_api(ProtectedAPI(net, params, "reference")) as api:
        assert api.backend == "reference"
        got = np.concatenate([api.query(torch.from_numpy(x[:25])),
                              api.query(torch.from_numpy(x[25:]))])
    assert np.array_equal(got, in_process(net, params, x))


def test_torchscript_model_needs_and_takes_an_input_shape(files, tmp_path, capsys):
    from dynamarks.cli.serve import _settle_shape

    model, params_file, net, _ = files
    ts = tmp_path / "fm.ts"
    torch.jit.save(torch.jit.trace(net.eval(), torch.zeros(1, 1, 28, 28)), str(ts))
    rc = main(["serve", "--model", str(ts), "--params", str(params_file)])
    err = capsys.readouterr().err
    assert rc == 2 and "--input-shape" in err and err.count("\n") == 1
    m = open_model(ts)
    _settle_shape(m, "1,28,28")
    assert m.input_shape == (1, 28, 28) and m.classes == 10
    with pytest.raises(DynamarksError, match="takes"):
        _settle_shape(open_model(model), "3,32,32")
