"""Stimulus for the watermark unit's benches: random parameter sets and probability vectors.

Everything is integer fixed point (SPEC §1) and reproducible from a ``numpy`` generator.

* :func:`random_params` — a valid parameter set (SPEC §3.1) with random windows, Δ ranges,
  V tables (zero-probability entries included), key and IV; or the paper's set via
  ``keygen(seed=…)``;
* :func:`random_vectors` — a mixture that exercises every branch of SPEC §4–§9: confident
  vectors (most inside their window), windows' edge codes (alpha_i, alpha_i + 1, beta_i − 1,
  beta_i), softmax-like vectors, one-hot 1.0 vectors with zeros, ties for the maximum,
  vectors of equal entries and vectors that are not well formed;
* :func:`compose` — vectors whose maximum is a given code at a given index.
"""

from __future__ import annotations

import numpy as np

from dynamarks.host.params import THRESHOLD_ONE, Params, keygen


def random_thresholds(rng: np.random.Generator, n: int) -> tuple[int, ...]:
    """Cumulative V thresholds: nondecreasing, last == 65536, often with empty classes."""
    kind = rng.integers(4)
    if kind == 0:  # all mass on one index
        k = int(rng.integers(n))
        return tuple(0 if c < k else THRESHOLD_ONE for c in range(n))
    cuts = np.sort(rng.integers(0, THRESHOLD_ONE + 1, size=n - 1))
    if kind == 1:  # some classes get probability 0
        cuts[rng.random(n - 1) < 0.3] = 0
        cuts = np.sort(cuts)
    return tuple(int(c) for c in cuts) + (THRESHOLD_ONE,)


def random_params(rng: np.random.Generator, classes: int, width: int) -> Params:
    """A random valid parameter set; every third one is the paper's (``keygen``)."""
    if rng.integers(3) == 0:
        return keygen(classes, width, seed=int(rng.integers(2**63)))
    one = 1 << (width - 1)
    top = (1 << width) - 1
    alpha, beta, a, b = [], [], [], []
    for _ in range(classes):
        al = int(rng.integers(one // 2, one))  # one//2 .. one-1
        b_max = al + 1 - one // 2  # top-1 safety: 2*(al + 1 - (b - 1)) > one
        bb = int(rng.integers(1, b_max + 1))
        aa = int(rng.integers(0, bb))
        be = int(rng.choice([one, one + 1, top, int(rng.integers(al + 1, top + 1))]))
        alpha.append(al)
        beta.append(be)
        a.append(aa)
        b.append(bb)
    return Params(
        classes=classes,
        width=width,
        alpha=tuple(alpha),
        beta=tuple(beta),
        a=tuple(a),
        b=tuple(b),
        thresholds=tuple(random_thresholds(rng, classes) for _ in range(classes)),
        key=rng.bytes(10),
        iv=rng.bytes(10),
    ).validate()


def compose(
    rng: np.random.Generator, top: np.ndarray, index: np.ndarray, classes: int, width: int
) -> np.ndarray:
    """Well-formed vectors with ``top[m]`` at ``index[m]`` and the rest of ONE spread
    randomly over the other entries (which may exceed ``top`` when it is small)."""
    one = 1 << (width - 1)
    m = len(top)
    top = np.clip(np.asarray(top, dtype=np.int64), 0, one)
    weights = rng.dirichlet(np.full(classes - 1, 0.5), size=m)
    rest = rng.multinomial(one - top, weights)
    out = np.empty((m, classes), dtype=np.int64)
    for r in range(m):
        out[r] = np.insert(rest[r], index[r], top[r])
    return out


def _edge_codes(rng, params: Params, idx: np.ndarray) -> np.ndarray:
    al = np.asarray(params.alpha)[idx]
    be = np.asarray(params.beta)[idx]
    choice = rng.integers(0, 6, size=len(idx))
    code = np.select(
        [choice == 0, choice == 1, choice == 2, choice == 3, choice == 4],
        [al, al + 1, be - 1, be, al - 1],
        be + 1,
    )
    return np.clip(code, 0, params.one)


def random_vectors(rng: np.random.Generator, m: int, params: Params) -> np.ndarray:
    """``m`` vectors int64[m, N], a shuffled mixture of the kinds in the module docstring."""
    n, w, one = params.classes, params.width, params.one
    kinds = rng.choice(8, size=m, p=[0.40, 0.12, 0.16, 0.06, 0.06, 0.04, 0.10, 0.06])
    out = np.zeros((m, n), dtype=np.int64)
    idx = rng.integers(0, n, size=m)

    sel = kinds == 0  # confident: the maximum near or inside the window
    lo = np.asarray(params.alpha)[idx[sel]] - one // 20
    out[sel] = compose(rng, rng.integers(np.maximum(lo, 0), one + 1), idx[sel], n, w)

    sel = kinds == 1  # the windows' edge codes
    out[sel] = compose(rng, _edge_codes(rng, params, idx[sel]), idx[sel], n, w)

    sel = kinds == 2  # softmax of random logits, rounded to a well-formed vector
    if sel.any():
        logits = rng.normal(size=(int(sel.sum()), n)) * rng.uniform(0.5, 8, size=(sel.sum(), 1))
        x = np.exp(logits - logits.max(axis=1, keepdims=True))
        from dynamarks.host.fixedpoint import to_fixed

        out[sel] = to_fixed(x / x.sum(axis=1, keepdims=True), width=w)

    sel = kinds == 3  # one-hot 1.0, the others 0
    out[np.flatnonzero(sel), idx[sel]] = one

    sel = kinds == 4  # ties for the maximum (well formed when possible)
    for r in np.flatnonzero(sel):
        k = int(rng.integers(2, n + 1))
        where = rng.choice(n, size=k, replace=False)
        out[r, where] = one // k
        out[r, where[0]] += one % k if rng.integers(2) else 0  # sometimes break the tie

    sel = kinds == 5  # equal entries
    out[sel] = rng.integers(0, 1 << w, size=(int(sel.sum()), 1))
    sel5 = np.flatnonzero(sel)[: len(np.flatnonzero(sel)) // 2]
    out[sel5] = one // n

    sel = kinds == 6  # not well formed: any words
    out[sel] = rng.integers(0, 1 << w, size=(int(sel.sum()), n)) >> rng.integers(
        0, w, size=(int(sel.sum()), 1)
    )

    sel = kinds == 7  # well formed but one word off by ±1 (sum != ONE, maximum in window)
    rows = np.flatnonzero(sel)
    out[rows] = compose(rng, rng.integers(one - one // 8, one + 1, size=len(rows)), idx[rows], n, w)
    bump = rng.choice([-1, 1], size=len(rows))
    out[rows, idx[rows]] = np.clip(out[rows, idx[rows]] + bump, 0, (1 << w) - 1)
    return out
