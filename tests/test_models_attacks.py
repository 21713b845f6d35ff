"""The protected API, the extraction attacks and a tiny end-to-end watermark check.

The data are synthetic 28x28 images (a fixed random template per class plus noise), on which
the paper's Fashion-MNIST CNN becomes confident quickly, so that most answers fall into the
unit's window (0.9, 1) as on Fashion-MNIST itself — small, fast and reliable.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from dynamarks.host.params import keygen
from dynamarks.models.api import ProtectedAPI
from dynamarks.models.attacks import AnswerTransform, extract
from dynamarks.models.networks import build
from dynamarks.models.training import TrainConfig, predict_proba, train
from dynamarks.models.verification import algorithm2

CLASSES = 10
CFG = TrainConfig(epochs=4, batch_size=64, lr=3e-3, seed=0)


def synthetic(n: int, seed: int, noise: float = 0.6) -> tuple[torch.Tensor, torch.Tensor]:
    """Class templates (fixed) plus per-sample noise, clipped to [0, 1]."""
    gen = torch.Generator().manual_seed(99)
    templates = (torch.rand(CLASSES, 1, 28, 28, generator=gen) > 0.5).float()
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, CLASSES, (n,), generator=g)
    x = templates[y] + noise * torch.randn(n, 1, 28, 28, generator=g)
    return x.clamp(0, 1), y


@pytest.fixture(scope="module")
def victim():
    x, y = synthetic(1200, seed=1)
    return train(build("fmnist_cnn", 1, CLASSES, 28, seed=0), x, y, CFG)


@pytest.fixture(scope="module")
def params():
    return keygen(CLASSES, seed=11)


def test_answer_transforms():
    p = np.array([[0.04, 0.72, 0.24], [0.333, 0.333, 0.334]])
    assert np.allclose(AnswerTransform("round", 1)(p)[0], np.array([0.0, 0.7, 0.2]) / 0.9)
    assert np.allclose(AnswerTransform("topk", 2)(p)[0], np.array([0, 0.72, 0.24]) / 0.96)
    assert AnswerTransform("hard")(p).tolist() == [[0, 1, 0], [0, 0, 1]]
    assert np.allclose(AnswerTransform()(p), p)
    assert np.allclose(AnswerTransform("round", 3)(p).sum(1), 1)


def test_api_answers_keep_top1_and_mass(victim, params):
    x, _ = synthetic(300, seed=2)
    with ProtectedAPI(victim, params, "reference") as api:
        p = api.clean(x)
        q = api.query(x)
        assert api.position == 300
    assert np.array_equal(p.argmax(1), q.argmax(1))
    assert np.allclose(q.sum(1), 1.0, atol=1e-12)
    changed = np.abs(q - p).max(1) > 1e-3
    in_window = p.max(1) > 0.9
    assert changed.mean() > 0.3
    assert not (changed & ~in_window).any()  # only windowed answers are altered
    # the float Algorithm 1 path alters the same kind of answers
    qf = ProtectedAPI(victim, params, "float", seed=1).query(x)
    assert np.array_equal(qf.argmax(1), p.argmax(1))


def test_averaging_is_repeated_queries(victim, params):
    """query_averaged(x, R) == the mean of R consecutive queries of x on a fresh unit."""
    x, _ = synthetic(50, seed=3)
    avg = ProtectedAPI(victim, params, "reference").query_averaged(x, repeats=7)
    api = ProtectedAPI(victim, params, "reference")
    manual = np.mean([api.query(x) for _ in range(7)], axis=0)
    assert np.allclose(avg, manual, atol=1e-12)


def test_hardware_backend_falls_back_with_a_reason(victim, params):
    api = ProtectedAPI(victim, params, "serial", fallback=True,
                       backend_opts={"port": "/dev/nonexistent-dynamarks"})
    assert api.backend == "reference" and "serial" in api.fallback_reason


def test_art_thief_trains_on_probabilities(victim, params):
    """ART's KnockoffNets/CopycatCNN hand the thief's loss the probability rows."""
    x, _ = synthetic(200, seed=4)
    api = ProtectedAPI(victim, params, "reference")
    answers = {}

    def query(b: np.ndarray) -> np.ndarray:
        out = api.query(torch.from_numpy(b))
        answers.update({b[k].tobytes(): out[k] for k in range(len(b))})
        return out

    cfg = TrainConfig(epochs=1, batch_size=200, seed=0)
    for method in ("knockoff", "copycat"):
        ex = extract(query, x, build("fmnist_cnn", 1, CLASSES, 28, seed=1), gamma=0.5,
                     method=method, config=cfg)
        assert ex.targets_soft and ex.queries == 100
    hard = extract(query, x, build("fmnist_cnn", 1, CLASSES, 28, seed=1), gamma=0.5,
                   config=cfg, transform=AnswerTransform("hard"))
    assert not hard.targets_soft


def test_tiny_extraction_carries_the_watermark(victim, params):
    """A surrogate stolen through the unit has η > 1; a model trained on labels has η < 1."""
    x_pool, _ = synthetic(1200, seed=5)
    x_ver, y_ver = synthetic(600, seed=6)
    x_lab, y_lab = synthetic(1200, seed=7)  # as well trained as the victim (see report)
    api = ProtectedAPI(victim, params, "reference")
    cfg = replace(CFG, seed=1)
    stolen = extract(lambda b: api.query(torch.from_numpy(b)), x_pool,
                     build("fmnist_cnn", 1, CLASSES, 28, seed=1), config=cfg).model
    benign = train(build("fmnist_cnn", 1, CLASSES, 28, seed=2), x_lab, y_lab, cfg)
    owner = ProtectedAPI(victim, params, "reference")
    p = owner.clean(x_ver)
    q = owner.alter(p)
    y = y_ver.numpy()
    v_stolen = algorithm2(predict_proba(stolen, x_ver), p, q, y, CLASSES)
    v_benign = algorithm2(predict_proba(benign, x_ver), p, q, y, CLASSES)
    assert v_stolen.detected and v_stolen.eta > 1.2, v_stolen.summary()
    assert not v_benign.detected and v_benign.eta < 0.8, v_benign.summary()
