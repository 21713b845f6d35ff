"""Stream float softmax rows through a watermark backend and write the altered rows.

Input: a .npy file of shape (M, N), float rows that each sum to 1 (±1e-3), no NaN/Inf, no
negative entries. Output: a .npy of the same shape, the altered float rows (each row's sum is
exactly 1.0 in float64, SPEC §2). Nothing is written when the input or the parameters are
refused. The keystream starts at position 0 of the parameter set's key and IV.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dynamarks.cli.options import add_backend_options, add_secret_options


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_secret_options(p)
    p.add_argument("--in", dest="input", required=True, type=Path, help="input .npy (M, N)")
    p.add_argument("--out", required=True, type=Path, help="output .npy (M, N)")
    add_backend_options(p)


def load_rows(path: Path):
    import numpy as np

    from dynamarks.host.errors import DynamarksError

    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DynamarksError(f"cannot read {path} as a .npy array: {exc}") from None
    return x


def save_rows(path: Path, y) -> None:
    import numpy as np

    tmp = path.with_name(f".{path.name}.tmp.npy")
    np.save(tmp, y)
    tmp.replace(path)


def run(args: argparse.Namespace) -> int:
    from dynamarks.cli.options import backend_opts_from_args, params_from_args
    from dynamarks.host.driver import open_backend
    from dynamarks.host.fixedpoint import to_fixed, to_float

    x = load_rows(args.input)
    opts = backend_opts_from_args(args)
    params = params_from_args(args)
    with open_backend(args.backend, params, **opts) as backend:
        y = backend.process_float(x)
    save_rows(args.out, y)
    quantized = to_float(to_fixed(x, params.width, params.classes), params.width)
    altered = int((y != quantized).any(axis=1).sum())
    print(f"{len(y)} vectors through the {args.backend} backend; {altered} altered")
    return 0
