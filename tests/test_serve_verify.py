"""`dynamarks verify --suspect http://HOST:PORT/v2/models/NAME`: a suspect that is only an Open
Inference Protocol endpoint (here the suspect model deployed with `dynamarks.models.server`).

Oracle: the same suspect verified as a TorchScript file (``dynamarks verify`` on a file is
tested on its own with the verification code). The endpoint's answers differ from the
file's only by the served path's 16-bit quantization (the deployment's unit has an empty window,
so it alters nothing), which must not change the verdict: same decision, same keyed p-value,
η within 0.1%.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from dynamarks.cli import main as cli_main
from dynamarks.host.oip_client import OipClient
from dynamarks.host.params import keygen, save_params
from dynamarks.host.presets import keygen_preset
from dynamarks.models.api import ProtectedAPI
from dynamarks.models.checkpoint import save_checkpoint
from dynamarks.models.datasets import load_dataset
from dynamarks.models.networks import build
from dynamarks.models.server_loopback import served_api
from dynamarks.models.training import TrainConfig, train
from tests.synthetic_idx import write_template_fmnist


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """Synthetic 10-class images (template + noise, written as IDX), a briefly trained
    victim, the owner's robust key, and a suspect: another network trained on true labels."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("serve_verify")
    data = write_template_fmnist(root / "data", train=400, test=300)
    x, y = load_dataset("fmnist", "train", data)
    cfg = TrainConfig(epochs=1, batch_size=64, lr=3e-3, seed=0)
    victim = train(build("fmnist_cnn", 1, 10, 28, seed=0), x, y, cfg)
    save_checkpoint(root / "victim.pt", victim, dataset="fmnist")
    save_params(keygen_preset("robust", 10, seed=42), root / "robust.dmk")
    suspect = train(build("fmnist_cnn", 1, 10, 28, seed=5), x, y, cfg).eval()
    torch.jit.save(torch.jit.trace(suspect, x[:2]), str(root / "suspect.ts"))
    return root, suspect


def _verify(root, suspect: str, out) -> dict:
    rc = cli_main(["verify", "--suspect", suspect, "--original", str(root / "victim.pt"),
                   "--params", str(root / "robust.dmk"), "--data", str(root / "data"),
                   "--resamples", "5", "--json", str(out)])
    assert rc == 0
    return json.loads(out.read_text())


def test_verify_accepts_an_oip_endpoint_and_reaches_the_files_verdict(setting, tmp_path):
    root, suspect = setting
    as_file = _verify(root, str(root / "suspect.ts"), tmp_path / "file.json")
    plain = dataclasses.replace(keygen(10, 16, seed=777), beta=(0,) * 10)  # empty windows
    with served_api(ProtectedAPI(suspect, plain, "reference"), input_shape=(1, 28, 28)) as ep:
        xt, _ = load_dataset("fmnist", "test", root / "data")
        with torch.no_grad():
            exact = torch.softmax(suspect(xt).double(), 1).numpy()
        assert np.abs(OipClient(ep.url).infer(xt.numpy()) - exact).max() <= 2.0**-15
        via_http = _verify(root, ep.url, tmp_path / "http.json")
    assert via_http["queries"] == as_file["queries"] == 300
    assert via_http["detected"] == as_file["detected"]
    assert via_http["p_value"] == pytest.approx(as_file["p_value"], rel=1e-9)
    assert via_http["eta"] == pytest.approx(as_file["eta"], rel=1e-3)
