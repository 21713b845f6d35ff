"""Deterministic training, soft-target loss, checkpoints with a content hash."""

from __future__ import annotations

import pytest
import torch

from dynamarks.models.attacks import prune_global, sparsity
from dynamarks.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from dynamarks.models.networks import build
from dynamarks.models.training import SoftCrossEntropy, TrainConfig, accuracy, train


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_training_is_deterministic():
    x, y = _data()
    cfg = TrainConfig(epochs=2, batch_size=32, seed=3)
    a = train(build("fmnist_cnn", 1, 10, 28, seed=1), x, y, cfg)
    b = train(build("fmnist_cnn", 1, 10, 28, seed=1), x, y, cfg)
    c = train(build("fmnist_cnn", 1, 10, 28, seed=1), x, y, TrainConfig(epochs=2, batch_size=32,
                                                                         seed=4))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)  # the seed drives the shuffling


def test_soft_cross_entropy_matches_definition():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    t = torch.tensor([[0.7, 0.2, 0.1], [0.0, 1.0, 0.0]])
    expected = -(t * torch.log_softmax(logits, 1)).sum(1).mean()
    assert torch.allclose(SoftCrossEntropy()(logits, t), expected)
    # with class indices it is the ordinary cross-entropy
    idx = torch.tensor([0, 1])
    assert torch.allclose(SoftCrossEntropy()(logits, idx),
                          torch.nn.functional.cross_entropy(logits, idx))


def test_training_learns_a_separable_task():
    x, y = _data(200)
    x[:, 0, 0, :10] = 0
    x[torch.arange(200), 0, 0, y] = 5.0  # the label is written into the image
    model = train(build("fmnist_cnn", 1, 10, 28, seed=0), x, y,
                  TrainConfig(epochs=8, batch_size=32, lr=3e-3))
    assert accuracy(model, x, y) > 0.9


def test_checkpoint_round_trip_and_hash(tmp_path):
    model = build("resnet18", 1, 10, 28, seed=2, width=4)
    digest = save_checkpoint(tmp_path / "m.pt", model, dataset="fmnist", accuracy=0.5, seed=2)
    loaded, meta = load_checkpoint(tmp_path / "m.pt")
    assert meta["sha256"] == digest and meta["dataset"] == "fmnist" and meta["seed"] == 2
    assert meta["arch"] == "resnet18" and meta["arch_kwargs"]["width"] == 4
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), loaded(x))
    # The hash identifies the weights: saving again gives the same digest.
    assert save_checkpoint(tmp_path / "m2.pt", loaded) == digest

    # Tamper with one weight: the hash check refuses the file.
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["state_dict"]["fc.bias"][0] += 1.0
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="hash mismatch"):
        load_checkpoint(tmp_path / "bad.pt")


def test_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a dynamarks checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_pruning_is_global_and_survives_checkpoint(tmp_path):
    model = build("fmnist_cnn", 1, 10, 28, seed=0)
    pruned = prune_global(model, 0.3)
    assert abs(sparsity(pruned) - 0.3) < 0.01
    assert sparsity(model) < 0.01  # the original is untouched
    # global: the per-layer rates differ (small conv1 weights are not pruned at exactly 30%)
    rates = [float((m.weight == 0).float().mean()) for m in pruned.modules()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert max(rates) - min(rates) > 0.01
    save_checkpoint(tmp_path / "p.pt", pruned)
    loaded, _ = load_checkpoint(tmp_path / "p.pt")
    assert abs(sparsity(loaded) - 0.3) < 0.01
