"""Run a model on a data-set split and stream its softmax outputs through the watermark unit.

    dynamarks predict --checkpoint model.pt --split test [--data DIR] --backend reference|rtl|serial
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

from dynamarks.cli.options import add_backend_options, add_secret_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="model checkpoint (.pt)")
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--data", default=None, metavar="DIR", help="data folder (default: system)")
    parser.add_argument(
        "--dataset", default=None, help="data set name (default: the checkpoint's, else fmnist)"
    )
    add_backend_options(parser)
    add_secret_options(parser)
    parser.add_argument("-o", "--output", required=True, help="altered outputs (.npy)")
    parser.add_argument("--batch-size", type=int, default=1000, help="vectors per batch")
    parser.add_argument("--limit", type=int, default=None, help="only the first N samples")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no table")


def run(args: argparse.Namespace) -> int:
    from dynamarks.cli.options import backend_opts_from_args, params_from_args
    from dynamarks.host.atomic import check_writable
    from dynamarks.host.driver import open_backend
    from dynamarks.host.errors import DynamarksError
    from dynamarks.host.fixedpoint import to_float
    from dynamarks.models.checkpoint import load_checkpoint
    from dynamarks.models.datasets import dataset_info, load_dataset
    from dynamarks.models.predict import (
        print_summary,
        save_npy_atomically,
        stream_model,
        summarize,
    )

    if args.batch_size < 1:
        raise DynamarksError(f"--batch-size must be at least 1, not {args.batch_size}")
    if args.limit is not None and args.limit < 1:
        raise DynamarksError(f"--limit must be at least 1, not {args.limit}")
    opts = backend_opts_from_args(args)  # refuse bad options before touching the TPM
    out_path = check_writable(args.output)
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
    save_npy_atomically(out_path, to_float(p_out, width))
    summary = summarize(y.numpy(), p_in, p_out, info.classes)
    if not args.quiet:
        print_summary(summary, info.class_names, args.backend)
    print(
        f"wrote {len(p_out)} altered output vectors to {out_path} "
        f"({summary.total_altered} altered)"
    )
    return 0
