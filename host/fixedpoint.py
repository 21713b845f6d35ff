"""Float ↔ fixed-point conversion of softmax vectors (SPEC §1–§2).

``to_fixed`` turns rows of probabilities into W-bit codes whose sum is exactly ONE = 2**(W-1),
by the largest-remainder method (ties to the lowest index); every code is within one LSB of
the exact value. ``to_float`` is the exact inverse map code / ONE. Bad rows are refused with an
``InputError`` naming the first bad row, never repaired silently.
"""

from __future__ import annotations

import numpy as np

from dynamarks.host.errors import InputError

SUM_TOLERANCE = 1e-3


def check_rows(x: np.ndarray, classes: int | None = None) -> np.ndarray:
    """Return x as float64[M, N] or raise InputError (SPEC §2 step 1)."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InputError(f"expected a 2-D array of probability rows, got shape {x.shape}")
    if classes is not None and x.shape[1] != classes:
        raise InputError(f"rows have {x.shape[1]} entries, expected {classes} classes")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise InputError(f"probabilities must be real numbers, got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise InputError(f"row {int(np.argmax(bad))} contains NaN or Inf")
    bad = (x < 0).any(axis=1)
    if bad.any():
        raise InputError(f"row {int(np.argmax(bad))} has a negative entry")
    s = x.sum(axis=1)
    bad = np.abs(s - 1.0) > SUM_TOLERANCE
    if bad.any():
        r = int(np.argmax(bad))
        raise InputError(f"row {r} sums to {s[r]:.6g}, not 1 (tolerance {SUM_TOLERANCE:g})")
    return x


def to_fixed(x: np.ndarray, width: int = 16, classes: int | None = None) -> np.ndarray:
    """Probability rows float[M, N] → codes int64[M, N], each row summing to exactly 2**(W-1)."""
    x = check_rows(x, classes)
    one = 1 << (width - 1)
    q = x / x.sum(axis=1, keepdims=True) * one
    f = np.floor(q)
    r = (one - f.sum(axis=1)).astype(np.int64)  # 0 <= r <= N
    frac = q - f
    # Stable descending sort of the fractions: ties keep the lowest index first.
    order = np.argsort(-frac, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(x.shape[1])[None, :], axis=1)
    out = f.astype(np.int64) + (rank < r[:, None])
    return out


def to_float(p: np.ndarray, width: int = 16) -> np.ndarray:
    """Codes → float64 probabilities (exact)."""
    return np.asarray(p, dtype=np.float64) / (1 << (width - 1))
