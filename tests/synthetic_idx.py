"""Synthetic 10-class 28×28 images written as Fashion-MNIST IDX files, for tests that need a
data set a model can learn in seconds: class templates (random binary masks, seed 99) plus
Gaussian noise, clamped to [0, 1]."""

from __future__ import annotations

from pathlib import Path

import torch

from dynamarks.models.datasets import write_idx


def write_template_fmnist(folder: Path, train: int, test: int, noise: float = 0.7) -> Path:
    """Write ``train``/``test`` images and labels into ``folder`` (created); returns it.
    ``noise``: standard deviation of the Gaussian noise added to the class templates."""
    folder.mkdir(parents=True, exist_ok=True)
    templates = torch.rand(10, 28, 28, generator=torch.Generator().manual_seed(99)) > 0.5
    for prefix, n, seed in (("train", train, 1), ("t10k", test, 2)):
        g = torch.Generator().manual_seed(seed)
        y = torch.randint(0, 10, (n,), generator=g)
        x = (templates[y].float() + noise * torch.randn(n, 28, 28, generator=g)).clamp(0, 1)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", (x * 255).round().byte().numpy())
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y.byte().numpy())
    return folder
