"""models.model_file: one loader for checkpoints, TorchScript and ONNX.

The oracle is the torch module itself, run directly in the test (float64 softmax of its
logits); the loader must give the same rows whatever the file kind.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from dynamarks.models.checkpoint import save_checkpoint
from dynamarks.models.model_file import ModelFileError, detect_kind, open_model
from dynamarks.models.networks import build


class Tiny(nn.Module):
    """A model written outside the project's networks (what a thief might train)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 5, stride=3)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def direct_softmax(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        z = model(torch.from_numpy(x)).double()
    return torch.softmax(z, dim=1).numpy()


@pytest.fixture(scope="module")
def tiny_and_x():
    torch.manual_seed(0)
    model = Tiny().eval()
    x = np.random.default_rng(0).random((37, 1, 28, 28), dtype=np.float32)
    return model, x


def test_torchscript(tmp_path, tiny_and_x):
    model, x = tiny_and_x
    path = tmp_path / "suspect.pt"  # same suffix as a checkpoint: content decides
    torch.jit.save(torch.jit.script(model), path)
    m = open_model(path)
    assert m.kind == "torchscript" and detect_kind(path) == "torchscript"
    np.testing.assert_allclose(m.predict_proba(x, batch_size=10), direct_softmax(model, x),
                               rtol=1e-6, atol=1e-9)


def test_onnx(tmp_path, tiny_and_x):
    model, x = tiny_and_x
    path = tmp_path / "suspect.onnx"
    with warnings.catch_warnings():  # the TorchScript-based exporter is deprecated, not gone
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (torch.from_numpy(x[:2]),), str(path), input_names=["x"],
                          output_names=["logits"], dynamic_axes={"x": {0: "batch"}},
                          dynamo=False)
    m = open_model(path)
    assert m.kind == "onnx" and m.input_shape == (1, 28, 28) and m.classes == 10
    np.testing.assert_allclose(m.predict_proba(x, batch_size=16), direct_softmax(model, x),
                               rtol=1e-4, atol=1e-6)


def test_checkpoint(tmp_path):
    torch.manual_seed(1)
    model = build("fmnist_cnn", in_channels=1, classes=10, image_size=28).eval()
    path = tmp_path / "victim.pt"
    save_checkpoint(path, model, dataset="fmnist")
    m = open_model(path)
    assert (m.kind, m.input_shape, m.classes) == ("checkpoint", (1, 28, 28), 10)
    x = np.random.default_rng(1).random((5, 1, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(m.predict_proba(x), direct_softmax(model, x), rtol=1e-6)


def test_probability_outputs_are_not_softmaxed_twice(tmp_path, tiny_and_x):
    model, x = tiny_and_x
    path = tmp_path / "probs.pt"
    torch.jit.save(torch.jit.script(nn.Sequential(model, nn.Softmax(dim=1))), path)
    p = direct_softmax(model, x)
    np.testing.assert_allclose(open_model(path).predict_proba(x), p, rtol=1e-5, atol=1e-7)
    # Told that they are logits, the loader softmaxes them again: visibly flatter rows.
    assert open_model(path, outputs="logits").predict_proba(x).max() < p.max()


def test_bad_files_are_one_line_errors(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        open_model(tmp_path / "nope.pt")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\xff" * 100)
    with pytest.raises(ModelFileError, match="not a model file"):
        open_model(junk)
    fake = tmp_path / "fake.onnx"
    fake.write_bytes(b"\x08\x07garbage")
    with pytest.raises(ModelFileError, match="not a loadable ONNX"):
        open_model(fake)


def test_wrong_input_shape(tmp_path):
    model = build("fmnist_cnn", in_channels=1, classes=10, image_size=28).eval()
    save_checkpoint(tmp_path / "v.pt", model, dataset="fmnist")
    with pytest.raises(ModelFileError, match=r"takes inputs of shape \(1, 28, 28\)"):
        open_model(tmp_path / "v.pt").predict_proba(np.zeros((2, 3, 32, 32), np.float32))
