"""Deterministic training and inference on CPU.

* ``set_determinism(seed)`` seeds python, numpy and torch, asks torch for
  deterministic algorithms (``warn_only``: the CPU kernels used here all have one) and fixes
  the thread count (``THREADS``: $DYNAMARKS_THREADS or 2, the machine the project
  targets), so the same seed, data and thread count give the same weights bit for bit.
* ``SoftCrossEntropy`` — cross-entropy against a full probability vector per sample,
  ``-sum_k t_k log softmax(z)_k``; with one-hot targets it is the ordinary cross-entropy. It is
  deliberately *not* a subclass of ``nn.CrossEntropyLoss``: ART's ``PyTorchClassifier`` turns
  the labels of such a loss into class indices whenever they look one-hot, while for any other
  loss it hands the probability vectors through untouched (the thief must learn the altered
  probabilities, not their argmax). ``on_batch`` is called after every batch (progress bars).
* ``train(model, x, targets, ...)`` — Adam on shuffled mini-batches from a seeded generator;
  ``targets`` are class indices [M] (hard labels) or probability rows [M, N] (soft labels).
* ``predict_proba`` / ``predict_logits`` / ``accuracy`` — batched inference in eval mode.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Threads torch uses for training and inference: $DYNAMARKS_THREADS, default 2.
THREADS = int(os.environ.get("DYNAMARKS_THREADS", "2"))


#: Where training and inference run: $DYNAMARKS_DEVICE ("cpu", the default, or "cuda").
#: Models always come back on the CPU; only the arithmetic moves.
DEVICE = os.environ.get("DYNAMARKS_DEVICE", "cpu")


def set_threads(n: int) -> None:
    """Change the thread count every later ``set_determinism`` applies."""
    global THREADS
    THREADS = n
    torch.set_num_threads(n)


def set_determinism(seed: int) -> None:
    """Seed every generator in play and fix the thread count (see module doc)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if THREADS > 0 and torch.get_num_threads() != THREADS:
        torch.set_num_threads(THREADS)


class SoftCrossEntropy(nn.Module):
    """Batch mean of ``-sum_k t_k log softmax(logits)_k``; t: [B, N] rows or [B] indices."""

    def __init__(self, on_batch: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self.on_batch = on_batch
        self.last_targets: torch.Tensor | None = None  # kept for inspection (tests)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        self.last_targets = targets.detach()
        if targets.ndim == 1:
            loss = F.cross_entropy(logits, targets.long())
        else:
            loss = -(targets.to(logits.dtype) * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
        if self.on_batch is not None:
            self.on_batch(len(logits))
        return loss


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (Adam, constant learning rate)."""

    epochs: int = 8
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0


def train(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    config: TrainConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> nn.Module:
    """Train ``model`` in place on (x, targets) and return it (see module doc).

    ``progress(n)`` is called with the number of samples of every finished batch.
    """
    config = config or TrainConfig()
    set_determinism(config.seed)
    loss_fn = SoftCrossEntropy(on_batch=progress)
    model.to(DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)
    n = len(x)
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            if len(idx) < 2 and _has_batchnorm(model):
                continue  # batch norm cannot train on a single sample
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx].to(DEVICE)), targets[idx].to(DEVICE))
            loss.backward()
            opt.step()
    model.eval()
    return model.cpu()


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Logits [M, N] in eval mode, computed in batches."""
    was_training = model.training
    model.eval().to(DEVICE)
    out = torch.cat([model(x[i : i + batch_size].to(DEVICE)).cpu()
                     for i in range(0, len(x), batch_size)])
    model.train(was_training).cpu()
    return out


def predict_proba(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """Softmax probabilities float64 [M, N] (computed in float64 so rows sum to 1 closely)."""
    return torch.softmax(predict_logits(model, x, batch_size).double(), dim=1).numpy()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on (x, y)."""
    pred = predict_logits(model, x, batch_size).argmax(dim=1)
    return float((pred == y).double().mean())
