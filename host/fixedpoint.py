"""Float ↔ fixed-point conversion of softmax vectors (SPEC §1–§2, SPEC version 2).

``to_fixed`` turns rows of probabilities into W-bit codes whose sum is exactly ONE = 2**(W-1),
by the largest-remainder method (ties to the lowest index), then keeps the float row's top-1:
when a row's maximum is unique, the codes' argmax (lowest index on ties) is that class
(SPEC §2 step 5). Every code is within one LSB of the exact value except the (rare) pair that
step 5 touches, within two. ``to_float`` is the exact inverse map code / ONE. Bad rows are
refused with an ``InputError`` naming the first bad row, never repaired silently.

Cost: a handful of passes over the rows and one small per-row sort of the fractional parts
(no argsort); :func:`row_sums` is the one place the row sums are taken, so the fused C path
(:mod:`dynamarks.host.alter_float`) sees the very same float64 sums.
"""

from __future__ import annotations

import numpy as np

from dynamarks.host.errors import InputError

SUM_TOLERANCE = 1e-3


def row_sums(x: np.ndarray) -> np.ndarray:
    """``sum(x)`` per row, float64, as SPEC §2 step 2 takes it (numpy's row reduction of a
    C-ordered float64 array; ``x`` must be C-contiguous so that every caller sums alike)."""
    return np.ascontiguousarray(x, dtype=np.float64).sum(axis=1)


def check_rows(
    x: np.ndarray, classes: int | None = None, first_row: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(x as C-ordered float64[M, N], its row sums)`` or :class:`InputError` (SPEC §2 step 1).

    ``first_row`` is added to the row number in the error (for a chunk of a larger file).
    One pass for the sums and one for the minimum; the exact reason is looked up only when a
    row is refused.
    """
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InputError(f"expected a 2-D array of probability rows, got shape {x.shape}")
    if classes is not None and x.shape[1] != classes:
        raise InputError(f"rows have {x.shape[1]} entries, expected {classes} classes")
    if x.dtype == np.bool_ or not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise InputError(f"probabilities must be real numbers, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.shape[0] == 0:
        return x, np.zeros(0)
    s = row_sums(x)
    # A NaN or Inf entry makes the sum NaN or Inf; finite sums of non-negative rows near 1
    # are all that passes.
    ok = np.abs(s - 1.0) <= SUM_TOLERANCE
    if x.shape[1] and ok.all() and x.min() >= 0:
        return x, s
    _refuse(x, s, first_row)
    raise AssertionError("unreachable")  # pragma: no cover


def _refuse(x: np.ndarray, s: np.ndarray, first_row: int) -> None:
    """Raise the InputError for the first bad row of x, with the SPEC's reason."""
    finite = np.isfinite(x).all(axis=1)
    negative = (x < 0).any(axis=1)
    off = np.abs(s - 1.0) > SUM_TOLERANCE
    bad = ~finite | negative | off
    r = int(np.argmax(bad))
    row = first_row + r
    if not finite[r]:
        raise InputError(f"row {row} contains NaN or Inf")
    if negative[r]:
        raise InputError(f"row {row} has a negative entry")
    raise InputError(f"row {row} sums to {s[r]:.6g}, not 1 (tolerance {SUM_TOLERANCE:g})")


def largest_remainder(q: np.ndarray, one: int) -> np.ndarray:
    """SPEC §2 steps 3–4 on scaled rows ``q`` (each summing to ``one`` up to rounding):
    floor, then +1 to the R entries with the largest fractional part, ties to the lowest
    index. Uses one sort of the fractions per row (values only) to find the R-th largest."""
    f = np.floor(q)
    frac = q - f
    p = f.astype(np.int64)
    r = one - p.sum(axis=1)  # 0 <= r <= N
    m, n = q.shape
    need = r > 0
    if not need.any():
        return p
    if need.all():
        srt = np.sort(frac, axis=1)  # ascending: the r-th largest sits at n - r
        th = srt[np.arange(m), n - r]
    else:
        th = np.full(m, np.inf)
        srt = np.sort(frac[need], axis=1)
        th[need] = srt[np.arange(srt.shape[0]), n - r[need]]
    above = frac > th[:, None]
    at = frac == th[:, None]
    inc = above | at
    # Where more entries tie at the threshold than there are units left, the lowest indices
    # take them (rare: exact float ties).
    left = r - above.sum(axis=1)
    tie = np.flatnonzero(at.sum(axis=1) > left)
    if tie.size:
        sub = at[tie]
        inc[tie] = above[tie] | (sub & (np.cumsum(sub, axis=1) <= left[tie, None]))
    p += inc
    return p


def keep_top1(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """SPEC §2 step 5, in place on codes ``p`` of float rows ``x``: where x's maximum is
    unique at k but p's argmax (lowest index) is another class j, move one LSB from j to k,
    until k is p's argmax. Returns p."""
    rows = np.arange(x.shape[0])
    k = np.argmax(x, axis=1)
    unique = (x == x[rows, k][:, None]).sum(axis=1) == 1
    todo = np.flatnonzero(unique & (np.argmax(p, axis=1) != k))
    while todo.size:
        j = np.argmax(p[todo], axis=1)
        p[todo, j] -= 1
        p[todo, k[todo]] += 1
        todo = todo[np.argmax(p[todo], axis=1) != k[todo]]
    return p


def to_fixed(
    x: np.ndarray, width: int = 16, classes: int | None = None, first_row: int = 0
) -> np.ndarray:
    """Probability rows float[M, N] → codes int64[M, N], each row summing to exactly
    2**(W-1), with the float row's unique top-1 kept (SPEC §2)."""
    x, s = check_rows(x, classes, first_row)
    one = 1 << (width - 1)
    q = x / s[:, None] * one
    return keep_top1(x, largest_remainder(q, one))


def to_float(p: np.ndarray, width: int = 16) -> np.ndarray:
    """Codes → float64 probabilities (exact)."""
    return np.asarray(p, dtype=np.float64) / (1 << (width - 1))
