"""Model checkpoints with metadata and a content hash.

File format (``torch.save`` of a plain dict, loaded with ``weights_only=True``, so loading a
checkpoint never runs code from the file)::

    {"format": "dynamarks-checkpoint", "version": 1,
     "arch": str, "arch_kwargs": dict,          # networks.build(arch, **arch_kwargs)
     "state_dict": {name: tensor},
     "meta": {"dataset": ..., "accuracy": ..., "seed": ..., ...},   # JSON-like values
     "sha256": hex}                              # content hash of arch + state_dict

The content hash is SHA-256 over the architecture spec (canonical JSON) and, for every
state-dict entry in name order, its name, dtype, shape and raw bytes. It identifies the
*weights*, not the file: the same network saved twice hashes the same. ``load_checkpoint``
recomputes it and refuses a file whose weights do not match (:class:`CheckpointError`).

API (used by ``dynamarks serve`` and ``dynamarks verify``)::

    save_checkpoint(path, model, **meta) -> str           # returns the hash
    load_checkpoint(path) -> (model in eval mode, meta)   # meta includes "sha256", "arch"
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dynamarks.host.atomic import atomic_output
from dynamarks.host.errors import DynamarksError
from dynamarks.models.networks import build, spec_of

FORMAT = "dynamarks-checkpoint"
VERSION = 1


class CheckpointError(DynamarksError):
    """A checkpoint that is missing, not ours, of an unknown version, or whose hash is wrong."""


def content_hash(arch: str, arch_kwargs: dict[str, Any], state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the architecture spec and the weights (see module doc)."""
    h = hashlib.sha256()
    h.update(json.dumps([arch, arch_kwargs], sort_keys=True).encode())
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _plain_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with pruning folded in (weight_orig * weight_mask -> weight)."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for key in [k for k in state if k.endswith("_orig")]:
        base = key[: -len("_orig")]
        mask = state.pop(base + "_mask", None)
        orig = state.pop(key)
        state[base] = orig * mask if mask is not None else orig
    return state


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, **meta: Any) -> str:
    """Write ``model`` and ``meta`` (dataset, accuracy, seed, …) to ``path``; return the hash."""
    arch, kwargs = spec_of(model)
    state = _plain_state(model)
    digest = content_hash(arch, kwargs, state)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "arch": arch,
        "arch_kwargs": dict(kwargs),
        "state_dict": state,
        "meta": dict(meta),
        "sha256": digest,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
    return digest


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the network saved at ``path``; returns (model in eval mode, meta).

    ``meta`` is the saved metadata plus ``arch``, ``arch_kwargs`` and ``sha256``.
    Raises CheckpointError for a missing file, a foreign file, or a hash mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a foreign file
        raise CheckpointError(
            f"{path} is not a readable checkpoint: {type(exc).__name__}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a dynamarks checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint version {payload.get('version')}")
    arch, kwargs, state = payload["arch"], payload["arch_kwargs"], payload["state_dict"]
    digest = content_hash(arch, kwargs, state)
    if digest != payload.get("sha256"):
        raise CheckpointError(
            f"{path}: content hash mismatch (the weights were modified after saving)"
        )
    model = build(arch, **kwargs)
    model.load_state_dict(state)
    model.eval()
    meta = {**payload.get("meta", {}), "arch": arch, "arch_kwargs": kwargs, "sha256": digest}
    return model, meta
