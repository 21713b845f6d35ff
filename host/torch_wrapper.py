"""``WatermarkedModel``: a PyTorch model whose softmax output goes through the watermark unit.

``WatermarkedModel(model, backend=...)`` is an ``nn.Module``; ``forward(x)`` runs ``model``
on the batch, takes the softmax (in float64), converts it to the unit's fixed point
(SPEC §2, :func:`~dynamarks.host.fixedpoint.to_fixed`), streams it through the backend
(exactly one output per input vector, in order, checked by the driver) and returns the
altered probabilities ``code / ONE``. Every row of the result sums to exactly 1.0 and has
the same top-1 class as the model's softmax.

The result has the model's float dtype (float32 by default), which is exact for every code
of width W <= 24 (a float32 mantissa holds 24 bits), and lives on the input's device.
The unit is stateful: every vector consumes keystream (SPEC §6), so calling ``forward``
twice on the same batch gives different alterations, as the device would. No gradient
flows through the unit (it is the deployed API, not a training layer).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dynamarks.host.driver import Backend, open_backend
from dynamarks.host.params import Params


class WatermarkedModel(nn.Module):
    """``model`` followed by softmax and the watermark unit.

    ``backend`` is a :class:`~dynamarks.host.driver.Backend` (already configured), or a
    backend name together with ``params=`` (and backend options in ``backend_opts``).
    ``outputs="logits"`` (default) applies the softmax; ``"probs"`` takes the model's
    output as probabilities already.
    """

    def __init__(
        self,
        model: nn.Module,
        backend: Backend | str = "reference",
        *,
        params: Params | None = None,
        outputs: str = "logits",
        backend_opts: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if outputs not in ("logits", "probs"):
            raise ValueError("outputs must be 'logits' or 'probs'")
        if isinstance(backend, str):
            if params is None:
                raise ValueError("a backend name needs params=")
            backend = open_backend(backend, params, **(backend_opts or {}))
        self.model = model
        self.backend = backend
        self.outputs = outputs

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """The model's softmax for ``x``, float64 ``[M, N]``, without the unit."""
        with torch.no_grad():
            y = self.model(x)
        if y.ndim != 2:
            raise ValueError(f"the model must return [batch, classes], got shape {tuple(y.shape)}")
        y = y.detach().to(torch.float64)
        return torch.softmax(y, dim=1) if self.outputs == "logits" else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Altered softmax probabilities for the batch ``x`` (one row per input)."""
        probs = self.probabilities(x)
        with torch.no_grad():
            dtype = self.model_dtype()
        altered = self.backend.process_float(probs.cpu().numpy())
        if altered.shape[0] != x.shape[0]:  # the driver checks this too; belt and braces
            raise RuntimeError("the unit returned a different number of vectors")
        return torch.from_numpy(altered).to(dtype=dtype, device=x.device)

    def model_dtype(self) -> torch.dtype:
        """The float dtype of the wrapped model's parameters (float32 if it has none)."""
        for p in self.model.parameters():
            if p.is_floating_point():
                return p.dtype
        return torch.float32

    def close(self) -> None:
        """Close the backend."""
        self.backend.close()
