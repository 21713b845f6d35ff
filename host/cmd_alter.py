"""Stream float softmax rows through a watermark backend and write the altered rows.

Input: a .npy file of shape (M, N), float rows that each sum to 1 (±1e-3), no NaN/Inf, no
negative entries. Output: a .npy of the same shape, the altered float rows (each row's sum is
exactly 1.0 in float64, SPEC §2). Nothing is written when the input or the parameters are
refused. The keystream starts at position 0 of the parameter set's key and IV.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from dynamarks.host.driver import BACKENDS, open_backend
from dynamarks.host.errors import DynamarksError
from dynamarks.host.fixedpoint import to_fixed, to_float
from dynamarks.host.params import load_params


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--params", type=Path, help="parameter file from `dynamarks keygen`")
    src.add_argument("--secrets", type=Path, help="TPM-sealed secrets from `dynamarks seal`")
    p.add_argument("--tcti", default=None, help="TPM TCTI string for --secrets")
    p.add_argument("--in", dest="input", required=True, type=Path, help="input .npy (M, N)")
    p.add_argument("--out", required=True, type=Path, help="output .npy (M, N)")
    p.add_argument("--backend", choices=sorted(BACKENDS), default="reference",
                   help="what computes the alteration (default: reference)")
    p.add_argument("--port", help="serial port for --backend serial")


def load_secrets(args: argparse.Namespace):
    """The parameter set from --params or, unsealed into memory, from --secrets."""
    if args.params is not None:
        return load_params(args.params)
    from dynamarks.host.sealing import load_secret_params

    return load_secret_params(args.secrets, tcti=args.tcti)


def load_rows(path: Path) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DynamarksError(f"cannot read {path} as a .npy array: {exc}") from None
    return x


def save_rows(path: Path, y: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp.npy")
    np.save(tmp, y)
    tmp.replace(path)


def run(args: argparse.Namespace) -> int:
    x = load_rows(args.input)
    params = load_secrets(args)
    opts = {"port": args.port} if args.port else {}
    with open_backend(args.backend, params, **opts) as backend:
        y = backend.process_float(x)
    save_rows(args.out, y)
    quantized = to_float(to_fixed(x, params.width, params.classes), params.width)
    altered = int((y != quantized).any(axis=1).sum())
    print(f"{len(y)} vectors through the {args.backend} backend; {altered} altered")
    return 0
