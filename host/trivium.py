"""Trivium keystream generator, bit-compatible with the eSTREAM reference (SPEC §5).

``Trivium(key, iv)`` loads the 80-bit key and IV (10 bytes each, as the eSTREAM test vectors
print them: bit n of byte m goes to s_(80-8m-n)), runs the 4·288-clock warm-up, and then
hands out the keystream ``z_1, z_2, …`` packed LSB-first into bytes, continuing where the
previous call stopped.

The clocks run in a small C core (``dynamarks.host._trivium``, built by ``pip install -e .``);
``trivium_python`` is a slow pure-Python model of the same specification, used to cross-check
the core in the tests and as a fallback when the extension is not built.
"""

from __future__ import annotations

import warnings

STATE_BITS = 288
WARMUP = 4 * 288
_LA, _LB = 93, 84

try:
    from dynamarks.host import _trivium as _core
except ImportError:  # pragma: no cover - exercised only on a broken install
    _core = None
    warnings.warn(
        "dynamarks.host._trivium is not built; using the slow pure-Python Trivium "
        "(run `pip install -e .`)",
        RuntimeWarning,
        stacklevel=1,
    )


def initial_state(key: bytes, iv: bytes) -> bytes:
    """The 288-bit state after key/IV load and before warm-up; byte k-1 holds s_k."""
    if len(key) != 10 or len(iv) != 10:
        raise ValueError("Trivium key and IV must be 10 bytes each")
    s = bytearray(STATE_BITS)
    for m in range(10):
        for n in range(8):
            s[79 - 8 * m - n] = (key[m] >> n) & 1  # s_(80-8m-n)
            s[_LA + 79 - 8 * m - n] = (iv[m] >> n) & 1
    s[285] = s[286] = s[287] = 1
    return bytes(s)


def trivium_python(state: bytes, skip: int, nbytes: int) -> tuple[bytes, bytes]:
    """Pure-Python Trivium: run ``skip`` clocks, then return ``nbytes`` of keystream and state."""
    s = [0] + list(state)  # 1-based: s[1] .. s[288]
    out = bytearray(nbytes)
    for t in range(skip + 8 * nbytes):
        t1 = s[66] ^ s[93]
        t2 = s[162] ^ s[177]
        t3 = s[243] ^ s[288]
        if t >= skip:
            k = t - skip
            out[k >> 3] |= (t1 ^ t2 ^ t3) << (k & 7)
        t1 ^= (s[91] & s[92]) ^ s[171]
        t2 ^= (s[175] & s[176]) ^ s[264]
        t3 ^= (s[286] & s[287]) ^ s[69]
        s = [0, t3, *s[1:93], t1, *s[94:177], t2, *s[178:288]]
    return bytes(out), bytes(s[1:])


class Trivium:
    """A keystream position in one Trivium stream.

    Interface: ``keystream(nbytes) -> bytes``; ``position`` is the number of keystream bytes
    handed out so far. Invariant: splitting one request into several gives the same bytes.
    The key and IV are not kept; ``repr`` shows only the position.
    """

    __slots__ = ("_state", "position")

    def __init__(self, key: bytes, iv: bytes) -> None:
        self._state = initial_state(bytes(key), bytes(iv))
        self.position = 0
        _, self._state = self._run(WARMUP, 0)

    def _run(self, skip: int, nbytes: int) -> tuple[bytes, bytes]:
        if _core is not None:
            return _core.keystream(self._state, skip, nbytes)
        return trivium_python(self._state, skip, nbytes)

    def keystream(self, nbytes: int) -> bytes:
        if nbytes < 0:
            raise ValueError("nbytes must be non-negative")
        out, self._state = self._run(0, nbytes)
        self.position += nbytes
        return out

    def __repr__(self) -> str:
        return f"Trivium(position={self.position} bytes)"
