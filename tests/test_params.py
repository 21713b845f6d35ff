"""Parameter sets: validation (SPEC §3.1), encoding (SPEC §3.2), files, keygen."""

from __future__ import annotations

import dataclasses
import os
import stat

import numpy as np
import pytest

from dynamarks.host.errors import ParameterError
from dynamarks.host.params import (
    THRESHOLD_ONE,
    Params,
    code,
    keygen,
    load_params,
    save_params,
    thresholds_from_table,
)


def test_keygen_paper_defaults() -> None:
    p = keygen(classes=10, width=16)
    one = p.one
    assert one == 32768
    assert p.alpha == (code(0.9, 16),) * 10 and p.beta == (one + 1,) * 10
    assert p.a == (code(0.01, 16),) * 10 and p.b == (code(0.19, 16),) * 10
    v = p.v_tables()
    for row in v:
        assert np.isclose(row.sum(), 1.0)
        assert np.isclose(np.sort(row)[-1], 2 / 11, atol=1e-4)
        assert np.allclose(np.sort(row)[:-1], 1 / 11, atol=1e-4)


def test_keygen_uses_fresh_secrets() -> None:
    a, b = keygen(), keygen()
    assert a.key != b.key and a.iv != b.iv


def test_keygen_seed_is_reproducible() -> None:
    assert keygen(seed=5) == keygen(seed=5)
    assert keygen(seed=5) != keygen(seed=6)


@pytest.mark.parametrize("n,w", [(2, 10), (10, 16), (16, 20), (64, 24)])
def test_encode_decode_roundtrip(n: int, w: int) -> None:
    p = keygen(classes=n, width=w, seed=n)
    data = p.encode()
    assert len(data) == 28 + 4 * n * (4 + n) + 4
    assert Params.decode(data) == p
    words = p.config_words()
    assert len(words) == 5 + n * (4 + n)
    assert data[28:-4] == b"".join(x.to_bytes(4, "little") for x in words[5:])


def test_decode_refuses_corruption() -> None:
    data = bytearray(keygen(seed=1).encode())
    with pytest.raises(ParameterError, match="magic"):
        Params.decode(b"XXXX" + bytes(data[4:]))
    bad = bytearray(data)
    bad[4] = 9
    with pytest.raises(ParameterError, match="version"):
        Params.decode(bytes(bad))
    with pytest.raises(ParameterError, match="length"):
        Params.decode(bytes(data[:-8]))
    bad = bytearray(data)
    bad[100] ^= 1
    with pytest.raises(ParameterError, match="CRC"):
        Params.decode(bytes(bad))


def _replace(p: Params, **kw) -> Params:
    return dataclasses.replace(p, **kw)


@pytest.mark.parametrize(
    "change, why",
    [
        # alpha too low: a vector could change its top-1 class
        (lambda p: {"alpha": (code(0.6, 16),) + p.alpha[1:]}, "top-1"),
        # b too large for the window
        (lambda p: {"b": (code(0.45, 16),) + p.b[1:]}, "top-1"),
        # empty or reversed Δ range
        (lambda p: {"a": (p.b[0],) + p.a[1:]}, "Δ range"),
        # Δ larger than 1.0
        (lambda p: {"b": (p.one + 1,) + p.b[1:]}, "Δ range"),
        # table does not sum to one
        (lambda p: {"thresholds": ((*p.thresholds[0][:-1], THRESHOLD_ONE - 1),) + p.thresholds[1:]},
         "sum to one"),
        # thresholds decreasing
        (lambda p: {"thresholds": ((40000, 30000, *p.thresholds[0][2:]),) + p.thresholds[1:]},
         "nondecreasing"),
        # wrong number of classes in a table
        (lambda p: {"alpha": p.alpha[:-1]}, "wrong number of classes"),
        (lambda p: {"thresholds": p.thresholds[:-1]}, "rows"),
        (lambda p: {"key": b"short"}, "10 bytes"),
        (lambda p: {"classes": 1}, "classes"),
        (lambda p: {"width": 30}, "width"),
    ],
)
def test_validation_refuses(change, why) -> None:
    p = keygen(seed=2)
    with pytest.raises(ParameterError, match=why):
        _replace(p, **change(p)).validate()


def test_validation_boundary_is_exact() -> None:
    """The smallest alpha that passes is exactly the one SPEC §3.1's inequality allows."""
    p = keygen(seed=3)
    b = p.b[0]
    lo = p.one // 2 + b - 1
    _replace(p, alpha=(lo,) + p.alpha[1:]).validate()
    with pytest.raises(ParameterError):
        _replace(p, alpha=(lo - 1,) + p.alpha[1:]).validate()


def test_errors_and_repr_never_show_secrets() -> None:
    p = keygen(seed=4)
    assert p.key.hex() not in repr(p) and str(p.alpha[0]) not in repr(p)
    bad = _replace(p, alpha=(12345,) + p.alpha[1:], b=(7777,) + p.b[1:])
    with pytest.raises(ParameterError) as info:
        bad.validate()
    assert "12345" not in str(info.value) and "7777" not in str(info.value)


def test_save_load_mode_0600(tmp_path) -> None:
    p = keygen(seed=9)
    f = tmp_path / "params.dmk"
    save_params(p, f)
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    assert load_params(f) == p
    assert not [x for x in os.listdir(tmp_path) if x != "params.dmk"]


def test_load_missing_file(tmp_path) -> None:
    with pytest.raises(ParameterError, match="cannot read"):
        load_params(tmp_path / "nope.dmk")


def test_thresholds_from_table() -> None:
    assert thresholds_from_table([0.25, 0.25, 0.5]) == (16384, 32768, 65536)
    assert thresholds_from_table([0.0, 1.0]) == (0, 65536)
    with pytest.raises(ParameterError):
        thresholds_from_table([0.5, 0.6])
    with pytest.raises(ParameterError):
        thresholds_from_table([1.5, -0.5])


def test_with_iv_changes_only_the_iv() -> None:
    p = keygen(seed=1)
    q = p.with_iv(bytes(10))
    assert q.iv == bytes(10) and q.key == p.key and q.thresholds == p.thresholds
