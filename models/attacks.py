"""Model-extraction attacks against the protected prediction API, and watermark removal.

Extraction goes through the Adversarial Robustness Toolbox (ART 1.20):

* the victim is an ART ``BlackBoxClassifier`` around a *query function* (numpy images →
  probability rows): the attacker sees nothing but the API's answers;
* ``KnockoffNets(sampling_strategy="random", use_probability=True)`` or
  ``CopycatCNN(use_probability=True)`` picks ``nb_stolen = γ·|pool|`` inputs at random (numpy's
  global generator, seeded), queries the victim and fits the thief on the answers;
* the thief is a ``PyTorchClassifier`` whose loss is
  :class:`~dynamarks.models.training.SoftCrossEntropy`.
  ART's ``use_probability=True`` only stops the *attack* from argmaxing the answers; the
  classifier's ``fit`` would still reduce them to class indices for an ``nn.CrossEntropyLoss``
  whenever they look one-hot (``PyTorchClassifier.reduce_labels``). For any other loss class
  ART hands the rows through unchanged, so with ``SoftCrossEntropy`` the thief provably trains
  on the probability vectors (``tests/test_models_attacks.py`` checks the targets its loss saw).

Attacker-side answer processing (``AnswerTransform``): ``round`` to k decimals, ``topk``
truncation (keep the k largest, renormalise), ``hard`` (argmax only, one-hot), ``average``
(each query repeated and averaged — the averaging attack, done by
``ProtectedAPI.query_averaged``).

Removal attempts on a stolen surrogate: global magnitude pruning (``prune_global``, κ of the
weights of every conv and linear layer, ``torch.nn.utils.prune.global_unstructured`` with L1)
and fine-tuning on a small labelled set (``fine_tune``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from dynamarks.models import training
from dynamarks.models.training import SoftCrossEntropy, TrainConfig, set_determinism, train

QueryFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class AnswerTransform:
    """What the attacker does to each answer before training on it."""

    kind: str = "none"  # none | round | topk | hard
    k: int = 0

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        p = np.asarray(probs, dtype=np.float64)
        if self.kind == "none":
            return p
        if self.kind == "round":
            p = np.round(p, self.k)
        elif self.kind == "topk":
            keep = np.argsort(-p, axis=1, kind="stable")[:, : self.k]
            mask = np.zeros_like(p, dtype=bool)
            np.put_along_axis(mask, keep, True, axis=1)
            p = np.where(mask, p, 0.0)
        elif self.kind == "hard":
            p = np.eye(p.shape[1])[np.argmax(p, axis=1)]
        else:
            raise ValueError(f"unknown answer transform {self.kind!r}")
        s = p.sum(axis=1, keepdims=True)
        # A row rounded to all zeros (possible only for k=0) keeps its argmax as a one-hot.
        fix = s[:, 0] <= 0
        if fix.any():
            p[fix] = np.eye(p.shape[1])[np.argmax(probs[fix], axis=1)]
            s = p.sum(axis=1, keepdims=True)
        return p / s

    @property
    def label(self) -> str:
        return {"none": "soft", "round": f"round {self.k} dp", "topk": f"top-{self.k}",
                "hard": "hard label"}[self.kind]


@dataclass
class Extraction:
    """A stolen surrogate and how it was obtained."""

    model: nn.Module
    method: str
    queries: int
    targets_soft: bool  # the loss saw non-one-hot probability rows


def extract(
    query: QueryFn,
    pool: torch.Tensor,
    thief: nn.Module,
    *,
    gamma: float = 1.0,
    method: str = "knockoff",
    config: TrainConfig | None = None,
    transform: AnswerTransform | None = None,
    classes: int = 10,
    query_batch: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> Extraction:
    """Steal ``thief`` from the API ``query`` with ART, using γ of the inputs ``pool``.

    ``progress(n)`` is called with the samples of every training batch (rich progress bars).
    """
    from art.attacks.extraction import CopycatCNN, KnockoffNets
    from art.estimators.classification import BlackBoxClassifier, PyTorchClassifier

    config = config or TrainConfig()
    transform = transform or AnswerTransform()

    set_determinism(config.seed)  # ART selects the queries with numpy's global generator
    x = pool.numpy().astype(np.float32)
    shape = tuple(x.shape[1:])
    victim = BlackBoxClassifier(
        lambda batch: transform(query(batch)).astype(np.float32),
        input_shape=shape, nb_classes=classes, clip_values=(0.0, 1.0),
    )
    loss = SoftCrossEntropy(on_batch=progress)
    optimizer = torch.optim.Adam(thief.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    art_thief = PyTorchClassifier(
        thief, loss=loss, optimizer=optimizer, input_shape=shape, nb_classes=classes,
        clip_values=(0.0, 1.0), device_type="gpu" if training.DEVICE.startswith("cuda") else "cpu",
    )
    nb_stolen = max(1, int(round(gamma * len(x))))
    common = dict(batch_size_fit=config.batch_size, batch_size_query=query_batch,
                  nb_epochs=config.epochs, nb_stolen=nb_stolen, use_probability=True)
    if method == "knockoff":
        attack = KnockoffNets(victim, sampling_strategy="random", verbose=False, **common)
    elif method == "copycat":
        attack = CopycatCNN(victim, **common)
    else:
        raise ValueError(f"unknown extraction method {method!r} (knockoff, copycat)")
    attack.extract(x, thieved_classifier=art_thief)
    seen = loss.last_targets
    soft = seen is not None and seen.ndim == 2 and not torch.equal(seen.floor(), seen.ceil())
    thief.eval().cpu()
    return Extraction(thief, method, nb_stolen, bool(soft))


def prune_global(model: nn.Module, kappa: float) -> nn.Module:
    """A copy of ``model`` with the fraction ``kappa`` of smallest-magnitude weights (over all
    conv and linear layers together) set to zero permanently."""
    pruned = copy.deepcopy(model)
    if kappa <= 0:
        return pruned
    targets = [(m, "weight") for m in pruned.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=float(kappa))
    for m, name in targets:
        prune.remove(m, name)
    return pruned.eval()


def sparsity(model: nn.Module) -> float:
    """Fraction of zero weights over the conv and linear layers."""
    ws = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    total = sum(w.numel() for w in ws)
    return float(sum(int((w == 0).sum()) for w in ws) / total)


def fine_tune(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig
) -> nn.Module:
    """A copy of ``model`` fine-tuned on the small labelled set (x, y) with hard labels."""
    tuned = copy.deepcopy(model)
    return train(tuned, x, y, config)
