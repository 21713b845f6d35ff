"""WatermarkedModel: a torch.nn.Module around a model and a backend.

Oracle: the model's softmax in float64, SPEC §2 conversion and SPEC §6–§9 computed directly
(``alter`` with one Trivium stream from position 0). The cross-backend equality of the
wrapper is in test_host_backends.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dynamarks.host.driver import open_backend
from dynamarks.host.fixedpoint import to_fixed, to_float
from dynamarks.host.params import keygen
from dynamarks.host.reference import alter
from dynamarks.host.torch_wrapper import WatermarkedModel
from dynamarks.host.trivium import Trivium


def confident_model(classes: int = 10, features: int = 20, seed: int = 0) -> nn.Module:
    """A linear model with large weights: most softmax maxima are above 0.9 (the window)."""
    torch.manual_seed(seed)
    model = nn.Linear(features, classes)
    with torch.no_grad():
        model.weight.mul_(8.0)
    return model.eval()


def oracle(model, x, params) -> np.ndarray:
    with torch.no_grad():
        probs = torch.softmax(model(x).double(), dim=1).numpy()
    p = to_fixed(probs, params.width, params.classes)
    words = np.frombuffer(Trivium(params.key, params.iv).keystream(4 * len(p)), dtype="<u4")
    return to_float(alter(params, p, words).out, params.width)


def test_forward_matches_the_oracle_across_calls():
    params = keygen(classes=10, seed=3)
    model = confident_model()
    x = torch.randn(600, 20)
    wm = WatermarkedModel(model, "reference", params=params)
    assert isinstance(wm, nn.Module)
    out = torch.cat([wm(x[:250]), wm(x[250:251]), wm(x[251:])])  # keystream carries over
    want = oracle(model, x, params)
    assert out.dtype == torch.float32 and out.shape == (600, 10)
    np.testing.assert_array_equal(out.numpy().astype(np.float64), want)  # exact in float32
    changed = (want != to_float(to_fixed(torch.softmax(model(x).double(), 1).detach().numpy(),
                                         16), 16)).any(axis=1)
    assert changed.sum() > 30
    assert (out.double().sum(dim=1) == 1.0).all()
    assert (out.argmax(dim=1) == model(x).argmax(dim=1)).all()
    assert wm.backend.position == 600


def test_probability_outputs_and_float64_models():
    params = keygen(classes=4, width=20, seed=5)
    model = nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=1)).double()
    x = torch.randn(50, 3, dtype=torch.float64)
    with open_backend("reference", params) as be:
        wm = WatermarkedModel(model, be, outputs="probs")
        out = wm(x)
    assert out.dtype == torch.float64
    with torch.no_grad():
        probs = model(x).numpy()
    words = np.frombuffer(Trivium(params.key, params.iv).keystream(200), dtype="<u4")
    want = to_float(alter(params, to_fixed(probs, 20), words).out, 20)
    np.testing.assert_array_equal(out.numpy(), want)


def test_bad_arguments():
    with pytest.raises(ValueError, match="params"):
        WatermarkedModel(nn.Linear(2, 2), "reference")
    with pytest.raises(ValueError, match="outputs"):
        WatermarkedModel(nn.Linear(2, 2), "reference", params=keygen(2, seed=0), outputs="x")
    wm = WatermarkedModel(nn.Flatten(0), "reference", params=keygen(2, seed=0))
    with pytest.raises(ValueError, match="batch, classes"):
        wm(torch.zeros(3, 2))
