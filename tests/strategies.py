"""Hypothesis strategies shared by the tests: valid parameter sets and probability vectors."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from dynamarks.host.params import THRESHOLD_ONE, Params


def random_params(rng: np.random.Generator, classes: int, width: int) -> Params:
    """A random parameter set that passes SPEC §3.1, exercising the corners of its ranges."""
    one = 1 << (width - 1)
    alpha, beta, a, b, tables = [], [], [], [], []
    for _ in range(classes):
        bi = int(rng.integers(1, one // 4 + 2))
        ai = int(rng.integers(0, bi))
        lo = one // 2 + bi - 1  # smallest alpha with 2*(alpha+1-(b-1)) > one
        ali = int(rng.integers(lo, one + 1))
        bei = int(rng.integers(ali, min(one + 2, (1 << width) - 1) + 1))
        cuts = np.sort(rng.integers(0, THRESHOLD_ONE + 1, classes - 1))
        if rng.random() < 0.3:  # some zero-probability indices
            cuts[rng.integers(0, classes - 1)] = cuts[0]
            cuts = np.sort(cuts)
        alpha.append(ali)
        beta.append(bei)
        a.append(ai)
        b.append(bi)
        tables.append((*(int(c) for c in cuts), THRESHOLD_ONE))
    return Params(
        classes=classes, width=width, alpha=tuple(alpha), beta=tuple(beta), a=tuple(a),
        b=tuple(b), thresholds=tuple(tables), key=rng.bytes(10), iv=rng.bytes(10),
    ).validate()


def random_vectors(rng: np.random.Generator, m: int, params: Params) -> np.ndarray:
    """Well-formed vectors (sum == ONE) with a dominant class, many inside the window,
    plus some ties, some exact endpoints and some entries of 0 and ONE."""
    n, one = params.classes, params.one
    top = rng.integers(0, n, m)
    p_top = rng.integers(one // 2, one + 1, m)
    pick = rng.random(m)
    alpha = np.asarray(params.alpha)[top]
    beta = np.asarray(params.beta)[top]
    p_top = np.where(pick < 0.1, np.minimum(alpha, one), p_top)
    p_top = np.where((pick >= 0.1) & (pick < 0.2), np.minimum(beta, one), p_top)
    p_top = np.where((pick >= 0.2) & (pick < 0.25), one, p_top)
    rest = one - p_top
    w = rng.dirichlet(np.ones(n - 1), m)
    parts = np.floor(w * rest[:, None]).astype(np.int64)
    parts[:, 0] += rest - parts.sum(axis=1)
    out = np.empty((m, n), dtype=np.int64)
    for k in range(m):
        others = [c for c in range(n) if c != top[k]]
        out[k, others] = parts[k]
        out[k, top[k]] = p_top[k]
    ties = rng.random(m) < 0.05  # equal entries: argmax must take the lowest index
    out[ties] = one // n
    out[ties, 0] += one - (one // n) * n
    return out


@st.composite
def params_and_vectors(draw: st.DrawFn, max_m: int = 300) -> tuple[Params, np.ndarray]:
    seed = draw(st.integers(0, 2**32 - 1))
    classes = draw(st.integers(2, 16))
    width = draw(st.integers(10, 20))
    m = draw(st.integers(1, max_m))
    rng = np.random.default_rng(seed)
    params = random_params(rng, classes, width)
    return params, random_vectors(rng, m, params)
