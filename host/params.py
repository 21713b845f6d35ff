"""The secret parameter set of the watermark unit: validation, encoding, files, keygen.

``Params`` holds, per class i, the window (alpha_i, beta_i), the Δ range [a_i, b_i) and the
cumulative thresholds C_i of the categorical table V_i, all as fixed-point codes (SPEC §3),
plus the Trivium key and IV. ``encode``/``decode`` implement the versioned binary encoding of
SPEC §3.2 (what the host sends to the device and what gets sealed); ``save_params`` and
``load_params`` put that encoding in a file readable only by its owner.

Secrets never appear in ``repr``/``str`` or in the message of any exception raised here.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dynamarks.host.errors import ParameterError
from dynamarks.wire import PARAMS_HEADER as _HEADER
from dynamarks.wire import PARAMS_MAGIC as MAGIC
from dynamarks.wire import PARAMS_VERSION as VERSION
from dynamarks.wire import config_words as _config_words

THRESHOLD_ONE = 1 << 16  # C_i[N-1]; u is a 16-bit draw (SPEC §8)
MIN_CLASSES, MAX_CLASSES = 2, 64
MIN_WIDTH, MAX_WIDTH = 10, 24

# The paper's experiments (Section V-B).
PAPER_ALPHA, PAPER_BETA, PAPER_A, PAPER_B = 0.9, 1.0, 0.01, 0.19


@dataclass(frozen=True, repr=False)
class Params:
    """One secret parameter set; see SPEC §3. Fields are codes, not floats."""

    classes: int
    width: int
    alpha: tuple[int, ...]
    beta: tuple[int, ...]
    a: tuple[int, ...]
    b: tuple[int, ...]
    thresholds: tuple[tuple[int, ...], ...]
    key: bytes
    iv: bytes

    @property
    def one(self) -> int:
        """The code of probability 1.0, 2**(W-1)."""
        return 1 << (self.width - 1)

    def __repr__(self) -> str:
        return f"Params(classes={self.classes}, width={self.width}, <secrets hidden>)"

    __str__ = __repr__

    def validate(self) -> Params:
        """Raise ParameterError unless the set satisfies SPEC §3.1; return self."""
        n, w = self.classes, self.width
        if not MIN_CLASSES <= n <= MAX_CLASSES:
            raise ParameterError(f"number of classes must be in {MIN_CLASSES}..{MAX_CLASSES}")
        if not MIN_WIDTH <= w <= MAX_WIDTH:
            raise ParameterError(f"word width must be in {MIN_WIDTH}..{MAX_WIDTH} bits")
        if len(self.key) != 10 or len(self.iv) != 10:
            raise ParameterError("the Trivium key and IV must be 10 bytes each")
        for name in ("alpha", "beta", "a", "b"):
            if len(getattr(self, name)) != n:
                raise ParameterError(f"{name} has the wrong number of classes (expected {n})")
        if len(self.thresholds) != n or any(len(row) != n for row in self.thresholds):
            raise ParameterError(f"the V tables must be {n} rows of {n} thresholds")
        one = self.one
        for i in range(n):
            al, be, a, b = self.alpha[i], self.beta[i], self.a[i], self.b[i]
            if min(al, be, a, b) < 0 or max(al, be) >= 1 << w:
                raise ParameterError(f"class {i}: window or Δ code out of the {w}-bit range")
            if not a < b <= one:
                raise ParameterError(f"class {i}: the Δ range needs 0 <= a < b <= 1.0")
            if 2 * (al + 1 - (b - 1)) <= one:
                raise ParameterError(
                    f"class {i}: alpha is too low for b: an altered vector could change its "
                    "top-1 class or wrap around (need 2*(alpha+1-(b-1)) > 1.0, SPEC §3.1)"
                )
            row = self.thresholds[i]
            if any(c < 0 or c > THRESHOLD_ONE for c in row) or any(
                row[k] > row[k + 1] for k in range(n - 1)
            ):
                raise ParameterError(f"class {i}: V thresholds must be nondecreasing in 0..65536")
            if row[-1] != THRESHOLD_ONE:
                raise ParameterError(f"class {i}: the V table does not sum to one")
        return self

    # ---- encoding (SPEC §3.2) -------------------------------------------------------------

    def config_words(self) -> list[int]:
        """The 32-bit words between header and CRC: key+IV (5 words), then per class
        alpha, beta, a, b, C_i[0..N-1]. This is the order of the unit's config addresses."""
        words = list(struct.unpack("<5I", self.key + self.iv))
        for i in range(self.classes):
            words += [self.alpha[i], self.beta[i], self.a[i], self.b[i], *self.thresholds[i]]
        return words

    def encode(self) -> bytes:
        self.validate()
        body = _HEADER.pack(MAGIC, VERSION, self.width, self.classes, 0)
        body += struct.pack(f"<{len(self.config_words())}I", *self.config_words())
        return body + struct.pack("<I", zlib.crc32(body))

    @classmethod
    def decode(cls, data: bytes) -> Params:
        if len(data) < _HEADER.size + 4 or data[:4] != MAGIC:
            raise ParameterError("not a DynaMarks parameter set (bad magic)")
        magic, version, width, classes, _ = _HEADER.unpack_from(data)
        if version != VERSION:
            raise ParameterError(f"unsupported parameter-set version {version}")
        nwords = _config_words(classes)
        if len(data) != _HEADER.size + 4 * nwords + 4:
            raise ParameterError("parameter set has the wrong length for its number of classes")
        (crc,) = struct.unpack_from("<I", data, len(data) - 4)
        if zlib.crc32(data[:-4]) != crc:
            raise ParameterError("parameter set is corrupt (CRC mismatch)")
        words = struct.unpack_from(f"<{nwords}I", data, _HEADER.size)
        keyiv = struct.pack("<5I", *words[:5])
        per = [words[5 + i * (4 + classes) : 5 + (i + 1) * (4 + classes)] for i in range(classes)]
        return cls(
            classes=classes,
            width=width,
            alpha=tuple(r[0] for r in per),
            beta=tuple(r[1] for r in per),
            a=tuple(r[2] for r in per),
            b=tuple(r[3] for r in per),
            thresholds=tuple(tuple(r[4:]) for r in per),
            key=keyiv[:10],
            iv=keyiv[10:],
        ).validate()

    # ---- numpy views for the reference model ----------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        """alpha, beta, a, b as int64[N] and thresholds as int64[N, N]."""
        return {
            "alpha": np.asarray(self.alpha, dtype=np.int64),
            "beta": np.asarray(self.beta, dtype=np.int64),
            "a": np.asarray(self.a, dtype=np.int64),
            "b": np.asarray(self.b, dtype=np.int64),
            "thresholds": np.asarray(self.thresholds, dtype=np.int64),
        }

    def v_tables(self) -> np.ndarray:
        """The categorical tables V_i as float probabilities, float64[N, N]."""
        c = np.asarray(self.thresholds, dtype=np.float64)
        return np.diff(c, axis=1, prepend=0.0) / THRESHOLD_ONE

    def with_iv(self, iv: bytes) -> Params:
        """The same secrets under a new IV (a new power-up, SPEC §5)."""
        return Params(**{**self.__dict__, "iv": bytes(iv)}).validate()


def code(x: float, width: int) -> int:
    """The nearest code of probability x."""
    return int(round(x * (1 << (width - 1))))


def thresholds_from_table(v: Sequence[float]) -> tuple[int, ...]:
    """Cumulative 16-bit thresholds of a probability table (SPEC §3); last is exactly 65536."""
    p = np.asarray(v, dtype=np.float64)
    if p.ndim != 1 or np.any(~np.isfinite(p)) or np.any(p < 0):
        raise ParameterError("a V table must be a finite, non-negative vector")
    if abs(p.sum() - 1.0) > 1e-9:
        raise ParameterError("a V table does not sum to one")
    c = np.rint(np.cumsum(p) * THRESHOLD_ONE).astype(np.int64)
    c = np.maximum.accumulate(np.clip(c, 0, THRESHOLD_ONE))
    c[-1] = THRESHOLD_ONE
    return tuple(int(x) for x in c)


def paper_table(classes: int, favoured: int) -> list[float]:
    """The paper's V_i: one index at 2/(N+1), the others at 1/(N+1) (2/11 and 1/11 for N=10)."""
    v = [1.0 / (classes + 1)] * classes
    v[favoured] = 2.0 / (classes + 1)
    return v


def keygen(
    classes: int = 10,
    width: int = 16,
    *,
    alpha: float = PAPER_ALPHA,
    beta: float = PAPER_BETA,
    a: float = PAPER_A,
    b: float = PAPER_B,
    seed: int | None = None,
) -> Params:
    """A fresh parameter set with the paper's defaults (the ``paper`` preset of
    :mod:`dynamarks.host.presets`, which draws it).

    The favoured index of every V_i, the key and the IV come from the OS CSPRNG (``secrets``)
    unless ``seed`` is given, which makes the set reproducible — for tests only.
    """
    from dynamarks.host.presets import keygen_preset

    return keygen_preset("paper", classes, width, alpha=alpha, beta=beta, a=a, b=b, seed=seed)


def save_params(params: Params, path: str | os.PathLike[str]) -> None:
    """Write the encoding to ``path`` with mode 0600, atomically (no half-written file)."""
    from dynamarks.host.atomic import write_bytes_atomic

    write_bytes_atomic(path, params.encode(), mode=0o600)


def load_params(path: str | os.PathLike[str]) -> Params:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ParameterError(f"cannot read parameter file {path}: {exc.strerror}") from None
    return Params.decode(data)
