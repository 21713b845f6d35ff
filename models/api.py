"""The protected prediction API: a model's softmax passed through the watermark unit.

``ProtectedAPI(model, params, backend)`` is what the attacker queries (F_alt) and what the
owner uses to compute F_org and F_alt on the verification set:

* ``clean(x)`` — F_org: the model's softmax probabilities, float64[M, N];
* ``query(x)`` — F_alt: the same rows altered by the unit, float64[M, N];
* ``alter(p)`` — the unit alone on precomputed softmax rows;
* ``query_averaged(x, repeats)`` — the averaging attacker's view: ``repeats`` queries of every
  input, averaged. The model is deterministic, so its softmax is computed once; only the
  unit's randomness differs between queries, and each repetition consumes fresh keystream
  exactly as ``repeats`` separate queries would.

Backends:

* ``float`` — the paper's Algorithm 1 on floats (``dynamarks.host.float_reference``) with a
  seeded numpy generator; no quantization. For fast experiments and for comparison.
* ``reference``, ``rtl``, ``serial`` — the host's ``WatermarkedModel(model, backend=...)``
  (:mod:`dynamarks.host.torch_wrapper`) on the host driver's backends: SPEC §2's float→fixed
  conversion, the bit-exact unit (numpy model, Verilated RTL, or a board / simulated board),
  fixed→float. ``query`` is its ``forward`` in batches; ``alter`` (averaging attack, owner's
  F_alt) streams precomputed softmax rows through the same configured backend.

When a hardware backend cannot be opened and ``fallback=True``, the API falls back to the
reference backend and records why in ``fallback_reason`` (the story prints it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from dynamarks.host.params import Params
from dynamarks.models.training import predict_proba

BACKEND_CHOICES = ("float", "reference", "rtl", "serial")


class ProtectedAPI:
    """Model + watermark unit (see module doc). Use as a context manager or call ``close``."""

    def __init__(
        self,
        model: nn.Module,
        params: Params,
        backend: str = "reference",
        *,
        seed: int = 0,
        fallback: bool = False,
        backend_opts: dict[str, Any] | None = None,
        batch_size: int = 1000,
    ) -> None:
        self.model = model.eval()
        self.params = params
        self.classes = params.classes
        self.batch_size = batch_size
        self.requested_backend = backend
        self.fallback_reason: str | None = None
        self._backend = None  # the host driver's Backend inside the WatermarkedModel
        self._rng: np.random.Generator | None = None
        if backend not in BACKEND_CHOICES:
            from dynamarks.host.errors import DynamarksError

            raise DynamarksError(f"unknown backend {backend!r}; choose one of {BACKEND_CHOICES}")
        if backend == "float":
            from dynamarks.host.float_reference import FloatParams

            self._float_params = FloatParams.from_params(params)
            self._rng = np.random.default_rng(seed)
            self.backend = "float"
            return
        from dynamarks.host.errors import DynamarksError
        from dynamarks.host.torch_wrapper import WatermarkedModel

        try:
            self._wm = WatermarkedModel(model, backend, params=params, backend_opts=backend_opts)
            self.backend = backend
        except (DynamarksError, ImportError) as exc:  # e.g. pyserial or Verilator missing
            if not fallback or backend == "reference":
                raise
            self.fallback_reason = f"{backend} backend unavailable ({exc}); using reference"
            self._wm = WatermarkedModel(model, "reference", params=params)
            self.backend = "reference"
        self._backend = self._wm.backend

    # ---- queries ----------------------------------------------------------------------

    def clean(self, x: torch.Tensor) -> np.ndarray:
        """F_org(x): softmax probabilities float64[M, N]."""
        return predict_proba(self.model, x, self.batch_size)

    def alter(
        self, p: np.ndarray, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """The unit on softmax rows p[M, N]: altered float64 rows, in order."""
        p = np.asarray(p, dtype=np.float64)
        if self._backend is None:
            from dynamarks.host.float_reference import algorithm1_float

            out, _ = algorithm1_float(p, self._float_params, rng=self._rng)
            if progress is not None:
                progress(len(p))
            return out
        return self._backend.process_float(p, progress)

    def query(
        self, x: torch.Tensor, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """F_alt(x): what the prediction API returns, float64[M, N]."""
        if self._backend is None:
            return self.alter(self.clean(x), progress)
        self.model.eval()
        parts = []
        for start in range(0, len(x), self.batch_size):
            parts.append(self._wm(x[start : start + self.batch_size]).double().numpy())
            if progress is not None:
                progress(len(parts[-1]))
        return np.concatenate(parts) if parts else np.empty((0, self.classes))

    def query_averaged(
        self,
        x: torch.Tensor,
        repeats: int = 100,
        progress: Callable[[int], None] | None = None,
        chunk: int = 2000,
    ) -> np.ndarray:
        """Mean of ``repeats`` queries per input (the averaging attack), float64[M, N]."""
        p = self.clean(x)
        out = np.empty_like(p)
        for start in range(0, len(p), chunk):
            block = p[start : start + chunk]
            tiled = np.tile(block, (repeats, 1))  # query r of input k is row r*len+k
            altered = self.alter(tiled)
            out[start : start + len(block)] = altered.reshape(repeats, len(block), -1).mean(0)
            if progress is not None:
                progress(len(block))
        return out

    # ---- life cycle -------------------------------------------------------------------

    @property
    def position(self) -> int | None:
        """Vectors the unit has consumed (keystream position); None on the float path."""
        return None if self._backend is None else self._backend.position

    def close(self) -> None:
        if self._backend is not None:
            self._wm.close()

    def __enter__(self) -> ProtectedAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
