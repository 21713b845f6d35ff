"""The float-row path of the reference unit in one pass: SPEC §2 (float → fixed, top-1 kept),
§4–§9 (the unit) and fixed → float, row by row in C (``dynamarks.host._alter_core``).

``alter_float(params, x, sums, words) -> (out, altered)``: checked float64 rows ``x[M, N]``
(C order), their sums from :func:`dynamarks.host.fixedpoint.row_sums` and the M keystream
words they consume; returns the altered float64 rows and how many rows were altered. It is
bit-identical to ``to_float(reference.alter(params, to_fixed(x), words).out)`` (tested on
random and near-tied rows), about 30× faster, and touches each row once, so the working set
is one chunk. Without the compiled core (a broken install) it computes exactly that
composition in numpy.
"""

from __future__ import annotations

import numpy as np

from dynamarks.host.fixedpoint import keep_top1, largest_remainder, to_float
from dynamarks.host.params import Params

try:
    from dynamarks.host import _alter_core as _core
except ImportError:  # pragma: no cover - a build without the C extension
    _core = None

#: Whether the compiled core is in use (the tests and the benchmark report it).
COMPILED = _core is not None


def _numpy_path(params: Params, x: np.ndarray, sums: np.ndarray, words: np.ndarray):
    from dynamarks.host.reference import alter

    q = x / sums[:, None] * params.one
    p = keep_top1(x, largest_remainder(q, params.one))
    d = alter(params, p, words)
    return to_float(d.out, params.width), int(d.altered.sum())


def alter_float(
    params: Params, x: np.ndarray, sums: np.ndarray, words: np.ndarray, *, compiled: bool = True
) -> tuple[np.ndarray, int]:
    """See the module docstring. ``compiled=False`` forces the numpy composition."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    m, n = x.shape
    if n != params.classes:
        raise ValueError(f"rows have {n} entries, expected {params.classes}")
    sums = np.ascontiguousarray(sums, dtype=np.float64)
    words = np.ascontiguousarray(words, dtype=np.uint32)
    if sums.shape != (m,) or words.shape != (m,):
        raise ValueError("need one sum and one keystream word per row")
    if not (compiled and COMPILED):
        return _numpy_path(params, x, sums, words)
    prm = params.arrays()
    arr = {k: np.ascontiguousarray(prm[k], dtype=np.int64)
           for k in ("alpha", "beta", "a", "b", "thresholds")}
    out = np.empty_like(x)
    altered = _core.alter_rows(
        x, sums, words, arr["alpha"], arr["beta"], arr["a"], arr["b"], arr["thresholds"],
        m, params.one, out,
    )
    return out, int(altered)
