"""Run a model on a data-set split and stream its softmax outputs through the watermark unit.

    dynamarks serve --checkpoint model.pt --split test [--data DIR] --backend reference|rtl|serial
                    [--port DEV] (--params params.dmk | --secrets secrets.sealed [--tcti T])
                    -o altered.npy

Order of work: the parameter set is read (or unsealed from the TPM, into memory only) first,
then the checkpoint and the data are loaded, and only then is the backend opened and
configured; a failure at any step leaves no device half-configured and no output file.
The altered probabilities (float64 [M, N], rows in data-set order, each the unit's output
``code / 2**(W-1)``) are written atomically to the ``.npy`` file. A per-class table says how
many vectors the unit altered, found on the host by comparing input and output codes.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dynamarks.host.driver import (
    Backend,
    add_backend_arguments,
    backend_opts_from_args,
    open_backend,
)
from dynamarks.host.errors import DynamarksError
from dynamarks.host.fixedpoint import to_fixed, to_float
from dynamarks.host.sealing import add_tpm_arguments, params_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="model checkpoint (.pt)")
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--data", default=None, metavar="DIR", help="data folder (default: system)")
    parser.add_argument(
        "--dataset", default=None, help="data set name (default: the checkpoint's, else fmnist)"
    )
    add_backend_arguments(parser)
    parser.add_argument("--params", help="parameter file (params.dmk)")
    add_tpm_arguments(parser)
    parser.add_argument("-o", "--output", required=True, help="altered outputs (.npy)")
    parser.add_argument("--batch-size", type=int, default=1000, help="vectors per batch")
    parser.add_argument("--limit", type=int, default=None, help="only the first N samples")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no table")


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


def _save_npy_atomically(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.npy")
    try:
        np.save(tmp, arr)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DynamarksError(f"cannot write {path}: {exc.strerror}") from None


def _print_summary(summary: ServeSummary, names: tuple[str, ...], backend: str) -> None:
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


def run(args: argparse.Namespace) -> int:
    from dynamarks.models.checkpoint import load_checkpoint
    from dynamarks.models.datasets import dataset_info, load_dataset

    opts = backend_opts_from_args(args)  # refuse bad options before touching the TPM
    params = params_from_args(args)  # unsealed into memory only
    model, meta = load_checkpoint(args.checkpoint)
    name = args.dataset or meta.get("dataset") or "fmnist"
    info = dataset_info(name)
    x, y = load_dataset(info.name, args.split, root=args.data)
    if args.limit is not None:
        x, y = x[: args.limit], y[: args.limit]
    if info.classes != params.classes:
        raise DynamarksError(
            f"the data set has {info.classes} classes but the parameter set is for "
            f"{params.classes}"
        )
    out_path = Path(args.output)
    if not out_path.parent.is_dir():
        raise DynamarksError(f"output folder {out_path.parent} does not exist")

    with open_backend(args.backend, params, **opts) as backend:
        del params
        if args.quiet:
            p_in, p_out = stream_model(model, x, backend, args.batch_size)
        else:
            from rich.progress import Progress

            with Progress() as bar:
                task = bar.add_task(f"{info.name} {args.split} → {args.backend}", total=len(x))
                p_in, p_out = stream_model(
                    model, x, backend, args.batch_size, lambda n: bar.advance(task, n)
                )
        width = backend.width
        if len(p_out) != len(x):
            raise DynamarksError(f"{len(p_out)} outputs for {len(x)} inputs")
    _save_npy_atomically(out_path, to_float(p_out, width))
    summary = summarize(y.numpy(), p_in, p_out, info.classes)
    if not args.quiet:
        _print_summary(summary, info.class_names, args.backend)
    print(
        f"wrote {len(p_out)} altered output vectors to {out_path} "
        f"({summary.total_altered} altered)"
    )
    return 0
