"""Algorithm 1 of the DynaMarks paper in floating point, exactly as the paper writes it.

For each output vector p: i = argmax p; if alpha_i < p_i < beta_i, draw Δ ~ U(a_i, b_i) and
j ~ V_i, then p_i −= Δ and p_j += Δ. No quantization, no input check beyond shape. Used for
experiments and to measure what the fixed-point contract (SPEC §11) changes.

The draws come either from a numpy Generator (``rng``) or are given explicitly (``draws``:
Δ[M] and j[M]), which lets the tests feed the fixed-point unit's draws to this model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynamarks.host.params import Params


@dataclass(frozen=True)
class FloatParams:
    """Per-class float parameters: alpha, beta, a, b as float64[N], V as float64[N, N]."""

    alpha: np.ndarray
    beta: np.ndarray
    a: np.ndarray
    b: np.ndarray
    v: np.ndarray

    @classmethod
    def paper(cls, v: np.ndarray) -> FloatParams:
        """The paper's alpha=0.9, beta=1, a=0.01, b=0.19 with the given V tables."""
        n = v.shape[0]
        return cls(*(np.full(n, x) for x in (0.9, 1.0, 0.01, 0.19)), v=np.asarray(v, float))

    @classmethod
    def from_params(cls, params: Params) -> FloatParams:
        """The float values the codes of a fixed-point set stand for."""
        arr, one = params.arrays(), float(params.one)
        return cls(
            arr["alpha"] / one, arr["beta"] / one, arr["a"] / one, arr["b"] / one,
            params.v_tables(),
        )


def algorithm1_float(
    p: np.ndarray,
    fp: FloatParams,
    rng: np.random.Generator | None = None,
    draws: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (altered copy of p[M, N], altered mask[M]).

    Exactly one of ``rng`` and ``draws`` must be given. With ``rng``, Δ and j are drawn for
    every vector (so the stream of draws does not depend on the data, as in the hardware).
    """
    p = np.array(p, dtype=np.float64, copy=True)
    m, n = p.shape
    rows = np.arange(m)
    i = np.argmax(p, axis=1)
    pi = p[rows, i]
    if (rng is None) == (draws is None):
        raise ValueError("give exactly one of rng and draws")
    if draws is not None:
        delta, j = (np.asarray(d) for d in draws)
    else:
        delta = rng.uniform(fp.a[i], fp.b[i])
        cdf = np.cumsum(fp.v[i], axis=1)
        j = np.minimum((cdf <= rng.random(m)[:, None] * cdf[:, -1:]).sum(axis=1), n - 1)
    altered = (fp.alpha[i] < pi) & (pi < fp.beta[i])
    d = np.where(altered, delta, 0.0)
    p[rows, i] -= d
    p[rows, j] += d
    return p, altered & (j != i)
