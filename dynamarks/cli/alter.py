"""Stream float softmax rows through a watermark backend and write the altered rows.

Input: a .npy file of shape (M, N), float rows that each sum to 1 (±1e-3), no NaN/Inf, no
negative entries. Output: a .npy of the same shape, float64, the altered rows (each row's sum
is exactly 1.0, and each row's top-1 class is the input's whenever that is unique; SPEC §2).

The input is memory-mapped and processed a chunk at a time, so a file larger than memory
streams through; the output appears at --out only when every row is written. Nothing is
written when the input, the parameters or the backend are refused, or a row further down
the file is bad. The keystream starts at position 0 of the parameter set's key and IV.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dynamarks.cli.options import add_backend_options, add_secret_options


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_secret_options(p)
    p.add_argument("--in", dest="input", required=True, type=Path, help="input .npy (M, N)")
    p.add_argument("--out", required=True, type=Path, help="output .npy (M, N), float64")
    add_backend_options(p)


def run(args: argparse.Namespace) -> int:
    from dynamarks.cli.options import backend_opts_from_args, params_from_args
    from dynamarks.host.atomic import check_writable
    from dynamarks.host.driver import open_backend
    from dynamarks.host.errors import InputError
    from dynamarks.host.rowfile import RowWriter, chunks, open_rows

    opts = backend_opts_from_args(args)
    x = open_rows(args.input)
    check_writable(args.out)
    params = params_from_args(args)
    m, n = x.shape
    if n != params.classes:
        raise InputError(
            f"{args.input}: rows have {n} entries, expected {params.classes} classes"
        )
    altered = 0
    with open_backend(args.backend, params, **opts) as backend, RowWriter(args.out, m, n) as out:
        for start, stop in chunks(m, n):
            y, k = backend.alter_float(x[start:stop], first_row=start)
            out.write(y)
            altered += k
    print(f"{m} vectors through the {args.backend} backend; {altered} altered")
    return 0
