"""An independent model of docs/SPEC.md in plain Python, for the known-answer table.

Written from the SPEC text, sharing no code with ``dynamarks.host``: Trivium (§5) on a list
of bits, keystream words (§6), Δ (§7), the index draw (§8) and the alteration (§9) are the
plain model of tests/rtl_support.py (its Trivium checked against the published eSTREAM
vectors in tests/test_known_answers.py); the float → fixed conversion (§2, steps 1–5) with
Python floats and ints is here. Slow (a few thousand vectors a
second) and meant to be: it is the second path that produced tests/known_answers.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tests.rtl_support import Params as _SpecParams
from tests.rtl_support import alter_vector as _alter_vector
from tests.rtl_support import keystream_words  # noqa: F401 - SPEC §5-§6, R_0 … R_(m-1)
from tests.rtl_support import trivium_keystream_bytes as keystream_bytes  # noqa: F401


def alter_vector(p: Sequence[int], word: int, *, one: int, alpha, beta, a, b, c) -> list[int]:
    """SPEC §4, §7–§9 for one vector and its keystream word (tests/rtl_support.py's model)."""
    prm = _SpecParams(key=b"", iv=b"", alpha=list(alpha), beta=list(beta), a=list(a), b=list(b),
                      C=[list(row) for row in c])
    return _alter_vector(list(p), prm, one.bit_length(), word)


def expected_outputs(params, p):
    """The unit's outputs for vectors ``p`` (int[M, N]) from keystream position 0 under
    ``params`` (a ``Params``; only its fields are read), by this model: the oracle for a
    backend's ``process``. Returns int64[M, N]."""
    import numpy as np

    words = keystream_words(params.key, params.iv, len(p))
    fields = dict(one=params.one, alpha=params.alpha, beta=params.beta, a=params.a,
                  b=params.b, c=params.thresholds)
    rows = [alter_vector(row, w, **fields) for row, w in zip(p.tolist(), words, strict=True)]
    return np.array(rows, dtype=np.int64).reshape(p.shape)


def to_fixed_row(x: Sequence[float], width: int) -> list[int]:
    """SPEC §2 steps 2–5 for one row that passed step 1. ``sum`` is Python's left-to-right
    sum; the SPEC's is numpy's row sum, so rows used with this model are chosen with sums
    that both orders compute alike (e.g. dyadic entries) or far from rounding boundaries."""
    one = 1 << (width - 1)
    total = math.fsum(x)
    q = [v / total * one for v in x]
    f = [math.floor(v) for v in q]
    r = one - sum(f)
    order = sorted(range(len(q)), key=lambda k: (-(q[k] - f[k]), k))
    p = f[:]
    for k in order[:r]:
        p[k] += 1
    top = max(x)
    if sum(1 for v in x if v == top) == 1:
        k = list(x).index(top)
        while p.index(max(p)) != k:
            j = p.index(max(p))
            p[j] -= 1
            p[k] += 1
    return p
