"""An independent model of docs/SPEC.md in plain Python, for the known-answer table.

Written from the SPEC text, sharing no code with ``dynamarks.host``: Trivium (§5) on a list
of bits (checked against the published eSTREAM vectors in tests/test_known_answers.py),
keystream words (§6), Δ (§7), the index draw (§8), the alteration (§9), and the float →
fixed conversion (§2, steps 1–5) with Python floats and ints. Slow (a few thousand vectors a
second) and meant to be: it is the second path that produced tests/known_answers.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def trivium_bits(key: bytes, iv: bytes, nbits: int) -> list[int]:
    """Keystream bits z_1 .. z_nbits (SPEC §5), s[1..288] in a 1-based list."""
    s = [0] * 289
    for m in range(10):
        for n in range(8):
            s[80 - 8 * m - n] = (key[m] >> n) & 1
            s[93 + 80 - 8 * m - n] = (iv[m] >> n) & 1
    s[286] = s[287] = s[288] = 1
    out = []
    for clock in range(4 * 288 + nbits):
        t1 = s[66] ^ s[93]
        t2 = s[162] ^ s[177]
        t3 = s[243] ^ s[288]
        if clock >= 4 * 288:
            out.append(t1 ^ t2 ^ t3)
        t1 ^= (s[91] & s[92]) ^ s[171]
        t2 ^= (s[175] & s[176]) ^ s[264]
        t3 ^= (s[286] & s[287]) ^ s[69]
        s[1:94] = [t3] + s[1:93]
        s[94:178] = [t1] + s[94:177]
        s[178:289] = [t2] + s[178:288]
    return out


def keystream_bytes(key: bytes, iv: bytes, nbytes: int) -> bytes:
    """SPEC §5's byte packing: byte m holds z_(8m+1) in bit 0 … z_(8m+8) in bit 7."""
    z = trivium_bits(key, iv, 8 * nbytes)
    return bytes(sum(z[8 * m + k] << k for k in range(8)) for m in range(nbytes))


def keystream_words(key: bytes, iv: bytes, m: int) -> list[int]:
    """R_v for v = 0..m-1 (SPEC §6)."""
    z = trivium_bits(key, iv, 32 * m)
    return [sum(z[32 * v + k] << k for k in range(32)) for v in range(m)]


def alter_vector(p: Sequence[int], word: int, *, one: int, alpha, beta, a, b, c) -> list[int]:
    """SPEC §4, §7–§9 for one vector and its keystream word."""
    p = list(p)
    i = p.index(max(p))
    r, u = word & 0xFFFF, word >> 16
    delta = a[i] + ((r * (b[i] - a[i])) >> 16)
    j = sum(1 for k in range(len(p)) if c[i][k] <= u)
    if sum(p) == one and alpha[i] < p[i] < beta[i] and j != i:
        p[i] -= delta
        p[j] += delta
    return p


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
