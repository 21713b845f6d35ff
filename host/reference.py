"""Bit-exact reference model of the watermark unit (SPEC §4–§9), vectorized with numpy.

This is the oracle every other implementation is checked against.

* ``alter(params, p, words)`` — the pure function: a batch of M fixed-point vectors and the
  M 32-bit keystream words they consume (SPEC §6) in, the M output vectors and the per-vector
  draws out.
* ``ReferenceUnit(params)`` — the unit as a device: it owns the Trivium stream, so vector v of
  its life consumes keystream word v whatever the batching; ``position`` counts the vectors
  consumed. Splitting a stream into batches gives the same result as one call.

Inputs are any W-bit words, as on the hardware's wire: a vector that is not well formed
(sum != ONE) passes through unchanged but still consumes its keystream word (SPEC §6, §9).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynamarks.host.errors import InputError
from dynamarks.host.params import Params
from dynamarks.host.trivium import Trivium


@dataclass(frozen=True)
class Detail:
    """Per-vector outcome of a batch (all arrays have length M except ``out``: [M, N])."""

    out: np.ndarray
    argmax: np.ndarray
    j: np.ndarray
    delta: np.ndarray
    in_window: np.ndarray
    well_formed: np.ndarray
    altered: np.ndarray


def check_words(p: np.ndarray, classes: int, width: int) -> np.ndarray:
    """Return p as int64[M, N] of W-bit words (N = classes) or raise InputError."""
    p = np.asarray(p)
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] != classes:
        raise InputError(f"expected vectors of {classes} words, got shape {p.shape}")
    if not np.issubdtype(p.dtype, np.integer):
        raise InputError(f"fixed-point vectors must be integers, got dtype {p.dtype}")
    p = p.astype(np.int64, copy=False)
    bad = ((p < 0) | (p >= 1 << width)).any(axis=1)
    if bad.any():
        raise InputError(f"vector {int(np.argmax(bad))} has a word outside 0..2**{width}-1")
    return p


def alter(params: Params, p: np.ndarray, words: np.ndarray) -> Detail:
    """Apply SPEC §4–§9 to vectors p[M, N] with keystream words[M] (uint32)."""
    p = check_words(p, params.classes, params.width)
    m = p.shape[0]
    words = np.asarray(words, dtype=np.uint32).astype(np.int64)
    if words.shape != (m,):
        raise ValueError("need exactly one keystream word per vector")
    prm = params.arrays()
    rows = np.arange(m)
    i = np.argmax(p, axis=1)  # lowest index among ties (SPEC §4)
    pi = p[rows, i]
    r, u = words & 0xFFFF, words >> 16
    a, b = prm["a"][i], prm["b"][i]
    delta = a + ((r * (b - a)) >> 16)  # SPEC §7
    j = (prm["thresholds"][i] <= u[:, None]).sum(axis=1)  # SPEC §8
    well_formed = p.sum(axis=1) == params.one
    in_window = (prm["alpha"][i] < pi) & (pi < prm["beta"][i])
    altered = well_formed & in_window & (j != i)  # SPEC §9
    out = p.copy()
    d = np.where(altered, delta, 0)
    out[rows, i] -= d
    out[rows, j] += d
    return Detail(out, i, j, delta, in_window, well_formed, altered)


class ReferenceUnit:
    """The watermark unit as a stateful device: parameters plus a keystream position.

    ``process(p) -> out`` and ``process_detailed(p) -> Detail`` take int[M, N] codes.
    Invariants (tested): output sum == input sum; output argmax == input argmax; no word
    leaves 0..2**W-1; vectors outside their window are unchanged; each vector consumes
    exactly 32 keystream bits.
    """

    def __init__(self, params: Params) -> None:
        self.params = params.validate()
        self._stream = Trivium(params.key, params.iv)
        self.position = 0

    def __repr__(self) -> str:
        return f"ReferenceUnit({self.params!r}, position={self.position})"

    def keystream_words(self, m: int) -> np.ndarray:
        """The next m keystream words (SPEC §6), advancing the position."""
        words = np.frombuffer(self._stream.keystream(4 * m), dtype="<u4")
        self.position += m
        return words

    def process_detailed(self, p: np.ndarray) -> Detail:
        # refuse before consuming any keystream
        p = check_words(p, self.params.classes, self.params.width)
        return alter(self.params, p, self.keystream_words(p.shape[0]))

    def process(self, p: np.ndarray) -> np.ndarray:
        return self.process_detailed(p).out
