"""Run a model over a data set and stream its softmax outputs through a watermark backend.

The library side of ``dynamarks predict``: :func:`stream_model` (model → SPEC §2 codes →
backend, in data-set order) and a per-class summary of what the unit altered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dynamarks.host.driver import Backend
from dynamarks.host.errors import DynamarksError
from dynamarks.host.fixedpoint import to_fixed


@dataclass(frozen=True)
class ServeSummary:
    """Per true class: how many vectors went through and how many the unit altered."""

    labels: np.ndarray  # int64[K]: the classes present
    vectors: np.ndarray  # int64[K]
    altered: np.ndarray  # int64[K]

    @property
    def total(self) -> int:
        return int(self.vectors.sum())

    @property
    def total_altered(self) -> int:
        return int(self.altered.sum())


def summarize(y: np.ndarray, p_in: np.ndarray, p_out: np.ndarray, classes: int) -> ServeSummary:
    """Count, per true label, the vectors whose output codes differ from their input codes."""
    changed = (p_in != p_out).any(axis=1)
    vectors = np.bincount(y, minlength=classes)
    altered = np.bincount(y, weights=changed, minlength=classes).astype(np.int64)
    labels = np.arange(len(vectors))
    return ServeSummary(labels=labels, vectors=vectors, altered=altered)


def stream_model(
    model,
    x,
    backend: Backend,
    batch_size: int = 1000,
    progress=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` over ``x`` in batches; return (input codes, output codes), int64[M, N].

    The softmax is taken in float64 and converted by SPEC §2; every batch goes through
    ``backend`` in data-set order. ``progress(n)`` is called after each batch.
    """
    import torch

    if batch_size < 1:
        raise DynamarksError("--batch-size must be at least 1")
    ins, outs = [], []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(x[start : start + batch_size]).to(torch.float64)
            probs = torch.softmax(logits, dim=1).cpu().numpy()
            p = to_fixed(probs, backend.width, backend.classes)
            outs.append(backend.process(p))
            ins.append(p)
            if progress is not None:
                progress(len(p))
    if not ins:
        empty = np.zeros((0, backend.classes), dtype=np.int64)
        return empty, empty
    return np.concatenate(ins), np.concatenate(outs)


def save_npy_atomically(path: Path, arr: np.ndarray) -> None:
    from dynamarks.host.atomic import atomic_output

    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        np.save(f, arr)


def print_summary(summary: ServeSummary, names: tuple[str, ...], backend: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"vectors altered by the unit ({backend} backend), per true class")
    for col in ("class", "name", "vectors", "altered", "share"):
        table.add_column(col, justify="left" if col == "name" else "right")
    for k, n, a in zip(summary.labels, summary.vectors, summary.altered, strict=True):
        name = names[k] if k < len(names) else ""
        share = f"{100.0 * a / n:.1f}%" if n else "-"
        table.add_row(str(k), name, str(n), str(a), share)
    total = summary.total
    share = f"{100.0 * summary.total_altered / total:.1f}%" if total else "-"
    table.add_row("all", "", str(total), str(summary.total_altered), share, style="bold")
    Console().print(table)
