"""``dynamarks verify`` on suspects the project did not train: a TorchScript file and an ONNX
file made here with plain torch, and a .npy of answers to ``verify export-queries``'s inputs.

Oracles: a model trained on the protected API's answers is detected by the keyed test with
the robust key far below α (p ≤ 10⁻³ on these 400 queries: the position score sees only
orders and ties within small groups count against detection, so it stays above the floor
9^-10 that the earlier share score reached here), an independently trained one is not; the
.npy route gives the same p-value as the model-file route (the same answers by another path);
user errors exit 2 and write nothing.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from dynamarks.cli import main as cli_main
from dynamarks.host.params import save_params
from dynamarks.host.presets import keygen_preset
from dynamarks.models.api import ProtectedAPI
from dynamarks.models.checkpoint import save_checkpoint
from dynamarks.models.datasets import load_dataset
from dynamarks.models.networks import build
from dynamarks.models.training import TrainConfig, train
from tests.synthetic_idx import write_template_fmnist


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """Synthetic 10-class images, a victim checkpoint (a small MLP: fast), a robust key, and two
    outside models:
    one stolen from the API (TorchScript), one trained on true labels (ONNX)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("verify")
    data = write_template_fmnist(root / "data", train=600, test=400)
    x, y = load_dataset("fmnist", "train", data)
    victim = train(build("mlp", 1, 10, 28, seed=0, hidden=64), x, y,
                   TrainConfig(epochs=10, batch_size=64, lr=3e-3, seed=0))
    save_checkpoint(root / "victim.pt", victim, dataset="fmnist")
    params = keygen_preset("robust", 10, seed=42)
    save_params(params, root / "robust.dmk")
    with ProtectedAPI(victim, params, "reference") as api:
        answers = torch.from_numpy(api.query(x)).float()

    def mlp(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))

    def fit(model: nn.Module, target: torch.Tensor, steps: int) -> nn.Module:  # plain torch
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        for _ in range(steps):
            opt.zero_grad()
            logp = torch.log_softmax(model(x), 1)
            loss = (-(target * logp).sum(1) if target.ndim == 2 else
                    nn.functional.nll_loss(logp, target, reduction="none")).mean()
            loss.backward()
            opt.step()
        return model.eval()

    stolen = fit(mlp(1), answers, 50)
    torch.jit.save(torch.jit.script(stolen), root / "stolen.ts")
    honest = fit(mlp(2), y, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(honest, (x[:2],), str(root / "honest.onnx"), input_names=["x"],
                          output_names=["logits"], dynamic_axes={"x": {0: "batch"}},
                          dynamo=False)
    return root, stolen


def _verify(root, suspect, out, *extra):
    return cli_main(["verify", "--suspect", str(suspect), "--original", str(root / "victim.pt"),
                     "--params", str(root / "robust.dmk"), "--data", str(root / "data"),
                     "--resamples", "5", "--json", str(out), *extra])


def test_torchscript_thief_detected_onnx_honest_not(setting, tmp_path, capsys):
    root, _ = setting
    assert _verify(root, root / "stolen.ts", tmp_path / "ts.json") == 0
    ts = json.loads((tmp_path / "ts.json").read_text())
    assert ts["detected"] and ts["p_value"] <= 1e-3
    assert ts["keyed_queries_needed"]["0.01"] is not None
    assert {"eta", "eta_detected", "delta_org", "delta_alt"} <= set(ts)
    assert _verify(root, root / "honest.onnx", tmp_path / "onnx.json") == 0
    ox = json.loads((tmp_path / "onnx.json").read_text())
    assert not ox["detected"] and ox["p_value"] > 0.01
    assert "WATERMARK DETECTED" not in capsys.readouterr().out.split("honest")[-1]


def test_answers_npy_route_matches_model_route(setting, tmp_path):
    root, stolen = setting
    inputs = tmp_path / "inputs.npy"
    assert cli_main(["verify", "export-queries", "--original", str(root / "victim.pt"),
                     "--data", str(root / "data"), "--queries", "300", "-o", str(inputs)]) == 0
    x = np.load(inputs)
    assert x.shape == (300, 1, 28, 28) and x.dtype == np.float32
    with torch.no_grad():  # the suspect's owner answers the queries with their own code
        ans = torch.softmax(stolen(torch.from_numpy(x)).double(), 1).numpy()
    np.save(tmp_path / "answers.npy", ans)
    assert _verify(root, tmp_path / "answers.npy", tmp_path / "npy.json", "--queries", "300") == 0
    assert _verify(root, root / "stolen.ts", tmp_path / "ts.json", "--queries", "300") == 0
    a = json.loads((tmp_path / "npy.json").read_text())
    b = json.loads((tmp_path / "ts.json").read_text())
    assert a["p_value"] == b["p_value"] and a["queries"] == 300
    assert a["eta"] == pytest.approx(b["eta"], rel=1e-6)


def test_user_errors_write_nothing(setting, tmp_path, capsys):
    root, _ = setting
    np.save(tmp_path / "bad.npy", np.full((7, 10), 0.1))
    out = tmp_path / "bad.json"
    assert _verify(root, tmp_path / "bad.npy", out) == 2
    assert "expected (400, 10)" in capsys.readouterr().err and not out.exists()
    assert _verify(root, tmp_path / "missing.onnx", out) == 2 and not out.exists()
    assert cli_main(["verify", "export-queries", "--original", str(root / "victim.pt"),
                     "-o", str(tmp_path / "x.txt")]) == 2
    assert cli_main(["keygen", "--preset", "robust", "--concentration", "0.7",
                     "-o", str(tmp_path / "k.dmk")]) == 0
    assert cli_main(["keygen", "--preset", "paper", "--concentration", "0.7",
                     "-o", str(tmp_path / "k2.dmk")]) == 2 and not (tmp_path / "k2.dmk").exists()
