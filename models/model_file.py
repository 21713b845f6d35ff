"""One loader for every model file the owner meets: the project's checkpoint, TorchScript, ONNX.

The server (``dynamarks serve``) loads the protected model with it and ``dynamarks verify``
loads file suspects with it; neither needs the model's Python code:

    m = open_model("suspect.onnx")       # or .pt (project checkpoint / TorchScript), .ts
    p = m.predict_proba(x)               # x float32 [M, C, H, W] -> float64 [M, N], rows sum to 1

Kinds, told apart by content rather than by name:

* **checkpoint** — a ``dynamarks-checkpoint`` dict (:mod:`dynamarks.models.checkpoint`), loaded
  with ``weights_only=True`` and its content hash checked; ``input_shape`` and ``classes`` come
  from the architecture.
* **torchscript** — a ``torch.jit.save`` archive (a zip holding ``code/`` and
  ``constants.pkl``). Loading runs the archive's TorchScript, a restricted language without
  Python's I/O, but still code from the file: load suspects you obtained, not anyone's upload.
* **onnx** — an ONNX model run by onnxruntime on the CPU; the first graph input is the image.

Outputs: models may end in logits (the project's networks do) or in probabilities. With
``outputs="auto"`` (default) a batch whose rows are all non-negative and sum to 1 (±1e-3) is
taken as probabilities, anything else as logits and passed through a float64 softmax; pass
``"logits"`` or ``"probs"`` to decide explicitly. Every failure is a :class:`ModelFileError`
(one line, no traceback at the CLI).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dynamarks.host.errors import DynamarksError

Outputs = Literal["auto", "logits", "probs"]
KINDS = ("checkpoint", "torchscript", "onnx")


class ModelFileError(DynamarksError):
    """A model file that is missing, of no known kind, or that fails on the given input."""


def detect_kind(path: Path) -> str:
    """``"checkpoint"``, ``"torchscript"`` or ``"onnx"`` from the file's content."""
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (OSError, zipfile.BadZipFile) as exc:
            raise ModelFileError(f"{path}: unreadable archive ({exc})") from None
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
        return "checkpoint"
    with open(path, "rb") as f:
        head = f.read(64)
    # An ONNX ModelProto starts with field 1 (ir_version, varint: 0x08) in every exporter we know.
    if head[:1] == b"\x08" or path.suffix.lower() == ".onnx":
        return "onnx"
    raise ModelFileError(
        f"{path} is not a model file this project reads (checkpoint, TorchScript or ONNX)"
    )


@dataclass
class ModelFile:
    """A loaded model. ``input_shape`` is the per-sample shape (C, H, W) when the file says
    it (checkpoint, ONNX with static dims), else ``None``; ``classes`` likewise."""

    path: Path
    kind: str
    input_shape: tuple[int, ...] | None
    classes: int | None
    meta: dict[str, Any] = field(default_factory=dict)
    outputs: Outputs = "auto"
    _run: Any = None  # callable: float32 ndarray [B, ...] -> float ndarray [B, N]

    def raw(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """The model's own outputs (logits or probabilities), float64 [M, N], in input order."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim < 2:
            raise ModelFileError(f"{self.path.name}: input must be a batch [M, ...], got {x.shape}")
        if self.input_shape is not None and tuple(x.shape[1:]) != self.input_shape:
            raise ModelFileError(
                f"{self.path.name} takes inputs of shape {self.input_shape}, got "
                f"{tuple(x.shape[1:])}"
            )
        if len(x) == 0:
            return np.zeros((0, self.classes or 0), dtype=np.float64)
        parts = []
        for start in range(0, len(x), batch_size):
            try:
                out = np.asarray(self._run(x[start : start + batch_size]), dtype=np.float64)
            except Exception as exc:  # torch/onnxruntime raise many kinds on a bad input
                raise ModelFileError(
                    f"{self.path.name} failed on an input of shape {x.shape[1:]}: "
                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                ) from None
            if out.ndim != 2 or len(out) != min(batch_size, len(x) - start):
                raise ModelFileError(
                    f"{self.path.name} returned shape {out.shape}; expected [batch, classes]"
                )
            parts.append(out)
        return np.concatenate(parts)

    def predict_proba(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Probability rows float64 [M, N] (see the module doc for logits vs probabilities)."""
        out = self.raw(x, batch_size)
        if not np.isfinite(out).all():
            raise ModelFileError(f"{self.path.name} returned NaN or Inf")
        if self.outputs == "probs" or (self.outputs == "auto" and _looks_like_probs(out)):
            return out / out.sum(axis=1, keepdims=True)
        z = out - out.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


def _looks_like_probs(out: np.ndarray) -> bool:
    return bool(len(out)) and bool((out >= 0).all()) and bool(
        np.abs(out.sum(axis=1) - 1.0).max() <= 1e-3
    )


def open_model(path: str | os.PathLike[str], outputs: Outputs = "auto") -> ModelFile:
    """Load the model at ``path`` (kind detected from its content) for CPU inference."""
    path = Path(path)
    if outputs not in ("auto", "logits", "probs"):
        raise ModelFileError(f"outputs must be auto, logits or probs, not {outputs!r}")
    kind = detect_kind(path)
    loader = {"checkpoint": _open_checkpoint, "torchscript": _open_torchscript,
              "onnx": _open_onnx}[kind]
    model = loader(path)
    model.outputs = outputs
    return model


def _torch_runner(module):
    import torch

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(x)).double().numpy()

    return run


def _open_checkpoint(path: Path) -> ModelFile:
    from dynamarks.models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(path)
    kw = meta["arch_kwargs"]
    shape = (kw["in_channels"], kw["image_size"], kw["image_size"])
    return ModelFile(path, "checkpoint", shape, kw["classes"], meta, _run=_torch_runner(model))


def _open_torchscript(path: Path) -> ModelFile:
    import torch

    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise ModelFileError(f"{path} is not a loadable TorchScript archive: "
                             f"{type(exc).__name__}") from None
    module.eval()
    return ModelFile(path, "torchscript", None, None, {}, _run=_torch_runner(module))


def _open_onnx(path: Path) -> ModelFile:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(os.environ.get("DYNAMARKS_ONNX_THREADS", "1"))
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelFileError(f"{path} is not a loadable ONNX model: {type(exc).__name__}") from None
    inp, out = session.get_inputs()[0], session.get_outputs()[0]
    dims = inp.shape[1:]
    shape = tuple(dims) if all(isinstance(d, int) for d in dims) else None
    classes = out.shape[-1] if out.shape and isinstance(out.shape[-1], int) else None

    def run(x: np.ndarray) -> np.ndarray:
        return session.run([out.name], {inp.name: x})[0]

    return ModelFile(path, "onnx", shape, classes, {}, _run=run)
