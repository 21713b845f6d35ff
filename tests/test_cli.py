"""The `dynamarks` command line: keygen, alter, demo --quick, --help everywhere, bad input."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from dynamarks.cli import build_parser, main
from dynamarks.host.fixedpoint import to_fixed, to_float
from dynamarks.host.params import load_params
from dynamarks.host.reference import ReferenceUnit
from dynamarks.host.synthetic import realistic_softmax


@pytest.fixture
def params_file(tmp_path):
    f = tmp_path / "params.dmk"
    assert main(["keygen", "--classes", "10", "-o", str(f)]) == 0
    return f


def test_keygen_writes_owner_only_file(params_file) -> None:
    assert stat.S_IMODE(os.stat(params_file).st_mode) == 0o600
    p = load_params(params_file)
    assert p.classes == 10 and p.width == 16


def test_keygen_refuses_to_overwrite(params_file, capsys) -> None:
    before = params_file.read_bytes()
    assert main(["keygen", "-o", str(params_file)]) == 2
    assert "exists" in capsys.readouterr().err
    assert params_file.read_bytes() == before


def test_alter_matches_reference(tmp_path, params_file) -> None:
    x, _ = realistic_softmax(500, 10, np.random.default_rng(1))
    np.save(tmp_path / "x.npy", x)
    rc = main(["alter", "--params", str(params_file), "--in", str(tmp_path / "x.npy"),
               "--out", str(tmp_path / "y.npy"), "--backend", "reference"])
    assert rc == 0
    y = np.load(tmp_path / "y.npy")
    expected = to_float(ReferenceUnit(load_params(params_file)).process(to_fixed(x)))
    assert (y == expected).all()
    assert (y.sum(axis=1) == 1.0).all()


@pytest.mark.parametrize(
    "make_bad, why",
    [
        (lambda x: x[:, :9], "expected 10 classes"),
        (lambda x: np.where(np.arange(10) == 3, np.nan, x), "NaN"),
        (lambda x: x * 1.5, "sums to"),
        (lambda x: x - 0.2, "negative"),
    ],
)
def test_alter_bad_input_one_line_and_nothing_written(tmp_path, params_file, capsys,
                                                      make_bad, why) -> None:
    x, _ = realistic_softmax(20, 10, np.random.default_rng(2))
    np.save(tmp_path / "bad.npy", make_bad(x))
    out = tmp_path / "y.npy"
    rc = main(["alter", "--params", str(params_file), "--in", str(tmp_path / "bad.npy"),
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and why in err and err.count("\n") == 1
    assert not out.exists()


def test_alter_unreadable_input_and_params(tmp_path, params_file, capsys) -> None:
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    assert main(["alter", "--params", str(params_file), "--in", str(tmp_path / "junk.npy"),
                 "--out", str(tmp_path / "y.npy")]) == 2
    assert "cannot read" in capsys.readouterr().err
    (tmp_path / "bad.dmk").write_bytes(b"DMKPxxxxxxxxxxxxxx")
    np.save(tmp_path / "x.npy", np.full((2, 10), 0.1))
    assert main(["alter", "--params", str(tmp_path / "bad.dmk"), "--in",
                 str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npy")]) == 2
    assert "parameter-set version" in capsys.readouterr().err
    assert not (tmp_path / "y.npy").exists()


def test_every_verb_has_help() -> None:
    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices  # noqa: SLF001
    assert {"keygen", "alter", "demo"} <= set(verbs)
    for verb, sub in verbs.items():
        text = sub.format_help()
        assert verb in text and len(text) > 80


def test_demo_quick(tmp_path) -> None:
    assert main(["demo", "--quick", "-o", str(tmp_path), "--vectors", "2000", "--seed", "1"]) == 0
    x, y = np.load(tmp_path / "softmax.npy"), np.load(tmp_path / "altered.npy")
    assert x.shape == y.shape == (2000, 10)
    assert (y.argmax(axis=1) == to_fixed(x).argmax(axis=1)).all()
    assert (y != to_float(to_fixed(x))).any(axis=1).mean() > 0.3


def test_console_script_entry_point(tmp_path) -> None:
    r = subprocess.run([sys.executable, "-m", "dynamarks", "keygen", "--help"],
                       capture_output=True, text=True, check=True)
    assert "--classes" in r.stdout
