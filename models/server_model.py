"""TEMPORARY until dynamarks.models.model_file lands: a checkpoint as a served model."""

from __future__ import annotations

import numpy as np
import torch

from dynamarks.models.checkpoint import load_checkpoint


class _CheckpointModel:
    def __init__(self, path: str) -> None:
        self.net, meta = load_checkpoint(path)
        kw = meta["arch_kwargs"]
        self.classes = int(kw["classes"])
        side = int(kw["image_size"])
        self.input_shape = (int(kw["in_channels"]), side, side)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(self.net(torch.from_numpy(x)).double(), dim=1).numpy()


def open_served_model(path: str) -> _CheckpointModel:
    return _CheckpointModel(path)
