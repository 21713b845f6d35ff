"""Every user mistake, for every verb: one line on stderr, exit status 2, nothing written.

``BAD`` is the table: verb -> rows of (argv, a fragment the one line must contain). In argv,
``{tmp}`` is the test's scratch folder and ``{name}`` one of the files made by ``files()``:

    params   a valid parameter file (N = 10, W = 16)     x        valid rows (5, 10)
    garbage  20 bytes of junk                             x3d      rows of shape (2, 5, 2)
    text     a text file (not .npy)                       x9       rows with 9 classes
    xnan     a NaN in row 3                               xlate    a bad row past the first chunk
    xneg     a negative entry in row 1                    xsum     row 0 sums to 0.5
    npz      an .npz archive                              dir      an empty folder

To cover a new verb, add its rows to ``BAD``; ``test_every_verb_has_rows`` fails until you do.
Each row runs ``dynamarks.cli.main`` in process (a traceback is an exception and fails the
test); a few rows also run as a real ``dynamarks`` process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dynamarks import cli
from dynamarks.host.params import keygen, save_params
from dynamarks.host.rowfile import CHUNK_ELEMENTS

ALTER = ("alter", "--params", "{params}", "--in", "{x}", "--out", "{tmp}/y.npy")
VERIFY = ("verify", "--suspect", "{garbage}", "--original", "{garbage}", "--params", "{params}")
PREDICT = ("predict", "--checkpoint", "{garbage}", "--params", "{params}", "-o", "{tmp}/y.npy")
SERVE = ("serve", "--model", "{garbage}", "--params", "{params}")


def alter_in(path: str) -> tuple[str, ...]:
    """`dynamarks alter` with valid parameters on input ``path``."""
    return ("alter", "--params", "{params}", "--in", path, "--out", "{tmp}/y.npy")


ROWS_PER_CHUNK = CHUNK_ELEMENTS // 10

BAD: dict[str, list[tuple[tuple[str, ...], str]]] = {
    "": [
        (("frobnicate",), "invalid choice"),
    ],
    "keygen": [
        (("keygen",), "required: -o/--output"),
        (("keygen", "--classes", "ten", "-o", "{tmp}/p.dmk"), "invalid int value"),
        (("keygen", "--classes", "1", "-o", "{tmp}/p.dmk"), "classes"),
        (("keygen", "--classes", "65", "-o", "{tmp}/p.dmk"), "classes"),
        (("keygen", "--width", "40", "-o", "{tmp}/p.dmk"), "width"),
        (("keygen", "--alpha", "0.3", "-o", "{tmp}/p.dmk"), "top-1"),
        (("keygen", "-a", "0.2", "-b", "0.1", "-o", "{tmp}/p.dmk"), "b"),
        (("keygen", "-o", "{params}"), "exists"),
        (("keygen", "-o", "{tmp}/no/such/dir/p.dmk"), "does not exist"),
        (("keygen", "-o", "{dir}"), "directory"),
    ],
    "seal": [
        (("seal", "-o", "{tmp}/s.sealed"), "required: --params"),
        (("seal", "--params", "{tmp}/missing.dmk", "-o", "{tmp}/s.sealed"), "missing.dmk"),
        (("seal", "--params", "{garbage}", "-o", "{tmp}/s.sealed"), "parameter"),
        (("seal", "--params", "{params}", "-o", "{tmp}/s.sealed", "--pcr", "99"), "PCR"),
        (("seal", "--params", "{params}", "-o", "{tmp}/s.sealed", "--auth", "env:DMK_UNSET_VAR"),
         "DMK_UNSET_VAR"),
        (("seal", "--params", "{params}", "-o", "{tmp}/s.sealed", "--auth", "file:{tmp}/nope"),
         "--auth: cannot read"),
        (("seal", "--params", "{params}", "-o", "{tmp}/s.sealed",
          "--tcti", "swtpm:host=127.0.0.1,port=9"), "TPM"),
        (("seal", "--params", "{params}", "-o", "{tmp}/s.sealed", "--tcti", "bogus:x"), "TPM"),
        (("seal", "--params", "{params}", "-o", "{params}"), "exists"),
        (("seal", "--params", "{params}", "-o", "{tmp}/no/dir/s.sealed"), "does not exist"),
    ],
    "alter": [
        (("alter", "--params", "{params}", "--in", "{x}"), "required: --out"),
        (("alter", "--in", "{x}", "--out", "{tmp}/y.npy"), "exactly one of --params"),
        (("alter", "--params", "{params}", "--secrets", "{garbage}", "--in", "{x}",
          "--out", "{tmp}/y.npy"), "exactly one of --params"),
        (("alter", "--params", "{tmp}/missing.dmk", "--in", "{x}", "--out", "{tmp}/y.npy"),
         "missing.dmk"),
        (("alter", "--params", "{garbage}", "--in", "{x}", "--out", "{tmp}/y.npy"), "parameter"),
        (("alter", "--secrets", "{garbage}", "--in", "{x}", "--out", "{tmp}/y.npy"), "sealed"),
        (("alter", "--secrets", "{tmp}/missing.sealed", "--in", "{x}", "--out", "{tmp}/y.npy"),
         "missing.sealed"),
        (alter_in("{tmp}/missing.npy"), "does not exist"),
        (alter_in("{dir}"), "directory"),
        (alter_in("{text}"), ".npy"),
        (alter_in("{npz}"), ".npz"),
        (alter_in("{x3d}"), "2-D"),
        (alter_in("{x9}"), "expected 10 classes"),
        (alter_in("{xnan}"), "row 3 contains NaN"),
        (alter_in("{xneg}"), "row 1 has a negative"),
        (alter_in("{xsum}"), "row 0 sums to 0.5"),
        (alter_in("{xlate}"), f"row {ROWS_PER_CHUNK + 7} contains NaN"),
        ((*ALTER[:-1], "{tmp}/no/dir/y.npy"), "does not exist"),
        ((*ALTER[:-1], "{dir}"), "directory"),
        ((*ALTER, "--backend", "gpu"), "invalid choice"),
        ((*ALTER, "--backend", "serial"), "--port"),
        ((*ALTER, "--port", "/dev/ttyUSB0"), "serial backend only"),
        ((*ALTER, "--port-serial", "/dev/ttyUSB0"), "serial backend only"),
        ((*ALTER, "--backend", "serial", "--port", "{tmp}/no-such-tty"), "no-such-tty"),
        ((*ALTER, "--backend", "serial", "--port", "{text}", "--timeout", "0.2"), "serial"),
    ],
    "predict": [
        (("predict", "--params", "{params}", "-o", "{tmp}/y.npy"), "required: --checkpoint"),
        (("predict", "--checkpoint", "{tmp}/missing.pt", "--params", "{params}",
          "-o", "{tmp}/y.npy"), "missing.pt"),
        (("predict", "--checkpoint", "{garbage}", "--params", "{params}", "-o", "{tmp}/y.npy"),
         "checkpoint"),
        (("predict", "--checkpoint", "{garbage}", "-o", "{tmp}/y.npy"),
         "exactly one of --params"),
        ((*PREDICT, "--backend", "serial"), "--port"),
        ((*PREDICT, "--split", "val"), "invalid choice"),
        ((*PREDICT, "--batch-size", "0"), "--batch-size"),
        ((*PREDICT, "--limit", "-1"), "--limit"),
        ((*PREDICT[:-1], "{dir}"), "directory"),
    ],
    "serve": [
        (("serve", "--params", "{params}"), "required: --model"),
        ((*SERVE, "--http-port", "70000"), "TCP port"),
        ((*SERVE, "--max-batch", "0"), "--max-batch"),
        ((*SERVE, "--backend", "serial"), "--port"),
        (("serve", "--model", "{garbage}"), "exactly one of --params"),
        (("serve", "--model", "{tmp}/missing.pt", "--params", "{params}"), "missing.pt"),
    ],
    "export-ip": [
        (("export-ip",), "required: -o/--output"),
        (("export-ip", "-o", "{tmp}/ip", "--classes", "1"), "--classes"),
        (("export-ip", "-o", "{tmp}/ip", "--width", "99"), "--width"),
        (("export-ip", "-o", "{tmp}/ip", "--name", "bad name!"), "Verilog identifier"),
        (("export-ip", "-o", "{params}"), "not a folder"),
    ],
    "board-sim": [
        (("board-sim", "--classes", "1"), "--classes"),
        (("board-sim", "--width", "99"), "--width"),
        (("board-sim", "--divisor", "2"), "--divisor"),
        (("board-sim", "--baud", "fast"), "invalid int value"),
        (("board-sim", "--max-vectors", "0"), "max_vectors"),
    ],
    "verify": [
        (("verify", "--suspect", "{tmp}/s.pt"), "required: --original"),
        ((*VERIFY, "--backend", "serial"), "--port"),
        ((*VERIFY, "--port", "/dev/ttyUSB0"), "serial backend only"),
        (("verify", "--suspect", "{garbage}", "--original", "{tmp}/missing.pt", "--params",
          "{params}"), "missing.pt"),
        (VERIFY, "not a readable checkpoint"),
        (("verify", "--suspect", "{garbage}", "--original", "{garbage}"),
         "exactly one of --params"),
        (("verify", "export-queries", "--original", "{garbage}", "-o", "{tmp}/q.txt"),
         "FILE.npy"),
        (("verify", "export-queries", "--original", "{garbage}", "-o", "{tmp}/no/q.npy"),
         "does not exist"),
    ],
    "experiment": [
        (("experiment", "table9"), "invalid choice"),
        (("experiment",), "required: which"),
        (("experiment", "table1", "--port", "/dev/ttyUSB0"), "serial backend only"),
        (("experiment", "table1", "--backend", "serial"), "--port"),
        (("experiment", "suite", "--backend", "rtl"), "reference or float"),
    ],
    "demo": [
        (("demo", "--vectors", "many"), "invalid int value"),
        (("demo", "--quick", "--vectors", "0", "-o", "{tmp}/demo"), "--vectors"),
        (("demo", "--quick", "-o", "{params}"), "not a folder"),
        (("demo", "--quick", "-o", "{garbage}/sub"), "not a writable folder"),
    ],
}

#: rows that also run as a real `dynamarks` process (the console entry point)
SUBPROCESS_ROWS = [("alter", 0), ("alter", 11), ("keygen", 8), ("", 0)]


def files(tmp: Path) -> dict[str, str]:
    """The inputs the table refers to, in ``tmp/in`` (the scratch folder is ``tmp/run``)."""
    d = tmp / "in"
    d.mkdir()
    params = keygen(10, 16, seed=1)
    save_params(params, d / "params.dmk")
    rng = np.random.default_rng(0)
    x = rng.dirichlet(np.ones(10), 5)
    np.save(d / "x.npy", x)
    (d / "garbage").write_bytes(b"\x00not a dmk file\xff\xfe\x01\x02")
    (d / "text.npy").write_text("0.5, 0.5\n")
    np.save(d / "x3d.npy", np.full((2, 5, 2), 0.1))
    np.save(d / "x9.npy", np.full((3, 9), 1 / 9))
    for name, row, value in (("xnan", 3, np.nan), ("xneg", 1, -0.1)):
        y = x.copy()
        y[row, 0] = value
        np.save(d / f"{name}.npy", y)
    y = x.copy()
    y[0] /= 2
    np.save(d / "xsum.npy", y)
    late = np.full((ROWS_PER_CHUNK + 20, 10), 0.1)
    late[ROWS_PER_CHUNK + 7, 2] = np.nan
    np.save(d / "xlate.npy", late)
    np.savez(d / "npz.npz", x=x)
    (d / "dir").mkdir()
    names = {p.stem if p.suffix else p.name: str(p) for p in d.iterdir()}
    names["npz"] = str(d / "npz.npz")
    return names


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    return files(tmp_path_factory.mktemp("cli-errors"))


def snapshot(*dirs: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for d in dirs:
        for root, subdirs, names in os.walk(d):
            for n in names + subdirs:
                p = Path(root, n)
                st = p.stat()
                out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def expand(argv: tuple[str, ...], inputs: dict[str, str], tmp: Path) -> list[str]:
    return [a.format(tmp=tmp, **inputs) for a in argv]


def cases() -> list:
    return [pytest.param(verb, k, id=f"{verb or 'dynamarks'}-{k}")
            for verb, rows in BAD.items() for k in range(len(rows))]


@pytest.mark.parametrize("verb, k", cases())
def test_bad_invocation(verb: str, k: int, inputs, tmp_path, capsys, monkeypatch) -> None:
    argv, why = BAD[verb][k]
    monkeypatch.delenv("DMK_UNSET_VAR", raising=False)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path, Path(inputs["x"]).parent)
    rc = cli.main(expand(argv, inputs, tmp_path))
    out, err = capsys.readouterr()
    assert rc == 2, f"exit status {rc}; stderr: {err!r}"
    assert err.count("\n") == 1 and err.endswith("\n"), f"not one line: {err!r}"
    assert "Traceback" not in err
    assert why in err, f"{why!r} not in {err!r}"
    assert snapshot(tmp_path, Path(inputs["x"]).parent) == before, "something was written"


@pytest.mark.parametrize("verb, k", SUBPROCESS_ROWS)
def test_bad_invocation_as_a_process(verb: str, k: int, inputs, tmp_path) -> None:
    argv, why = BAD[verb][k]
    r = subprocess.run([sys.executable, "-m", "dynamarks", *expand(argv, inputs, tmp_path)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and why in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_every_verb_has_rows() -> None:
    missing = [v for v in cli.VERBS if not BAD.get(v)]
    assert not missing, f"add bad invocations of {missing} to BAD in {__file__}"
