"""The `dynamarks` command line: keygen, alter, demo --quick, --help everywhere, bad input."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from dynamarks.cli import main
from dynamarks.host.fixedpoint import to_fixed, to_float
from dynamarks.host.params import load_params
from dynamarks.host.synthetic import realistic_softmax
from tests import known_answers as kat


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


def test_alter_known_answers(tmp_path) -> None:
    """The committed known-answer rows (tests/known_answers.py, computed by the independent
    SPEC model) through `dynamarks alter`, and a larger file whose rows repeat them: every
    copy of a row gets the same codes, and the keystream runs on across chunks."""
    from dynamarks.host.params import save_params

    save_params(kat.params(), tmp_path / "kat.dmk")
    np.save(tmp_path / "x.npy", np.array(kat.ROWS))
    rc = main(["alter", "--params", str(tmp_path / "kat.dmk"), "--in", str(tmp_path / "x.npy"),
               "--out", str(tmp_path / "y.npy"), "--backend", "reference"])
    assert rc == 0
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, np.array(kat.ROW_OUTPUTS) / (1 << (kat.W - 1)))
    assert (y.sum(axis=1) == 1.0).all()


def test_alter_streams_chunks_like_one_batch(tmp_path, params_file, monkeypatch) -> None:
    """Chunking does not change a bit: the same file with 7-row chunks and in one piece
    (a property of the keystream position: vector v consumes word v, SPEC §6)."""
    from dynamarks.host import rowfile

    x, _ = realistic_softmax(500, 10, np.random.default_rng(1))
    np.save(tmp_path / "x.npy", x)
    args = ["alter", "--params", str(params_file), "--in", str(tmp_path / "x.npy")]
    assert main([*args, "--out", str(tmp_path / "one.npy")]) == 0
    monkeypatch.setattr(rowfile, "CHUNK_ELEMENTS", 70)
    assert main([*args, "--out", str(tmp_path / "chunked.npy")]) == 0
    one, chunked = np.load(tmp_path / "one.npy"), np.load(tmp_path / "chunked.npy")
    np.testing.assert_array_equal(one, chunked)
    assert (one.argmax(axis=1) == x.argmax(axis=1)).all()
    assert (one != np.round(x * 32768) / 32768).any(axis=1).mean() > 0.3


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


def test_every_verb_has_help(capsys) -> None:
    """`dynamarks --help` lists every verb of VERBS, and each `dynamarks VERB --help` works."""
    from dynamarks.cli import VERBS

    assert main(["--help"]) == 0
    top = capsys.readouterr().out
    for verb in VERBS:
        assert verb in top
        assert main([verb, "--help"]) == 0
        text = capsys.readouterr().out
        assert f"dynamarks {verb}" in text and len(text) > 80


def test_a_verb_that_fails_to_import_is_an_error(monkeypatch, capsys) -> None:
    from dynamarks import cli

    monkeypatch.setitem(cli.VERBS, "broken", ("no_such_verb_module", "a broken verb"))
    assert main(["--help"]) == 1
    assert "no_such_verb_module" in capsys.readouterr().err


def test_backend_names_are_the_drivers() -> None:
    """One list of backends: the CLI's choices are the driver's registry."""
    from dynamarks.cli.options import BACKEND_NAMES
    from dynamarks.host.driver import BACKENDS
    from dynamarks.models.api import BACKEND_CHOICES

    assert tuple(BACKENDS) == BACKEND_NAMES
    assert set(BACKEND_CHOICES) - {"float"} == set(BACKEND_NAMES)


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
