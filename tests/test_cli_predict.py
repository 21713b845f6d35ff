"""`dynamarks predict`: checkpoint + data split -> backend -> altered .npy and a per-class table.

A tiny Fashion-MNIST-shaped data set (IDX files) and a small FashionCNN checkpoint are made
in the test. Oracle: the model's float64 softmax, SPEC §2, and SPEC §6–§9 computed directly
with one Trivium stream from position 0.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dynamarks import cli
from dynamarks.host.fixedpoint import to_fixed, to_float
from dynamarks.host.params import keygen, save_params
from dynamarks.host.reference import alter
from dynamarks.host.sealing import seal_params
from dynamarks.host.trivium import Trivium
from dynamarks.models.checkpoint import save_checkpoint
from dynamarks.models.datasets import load_dataset, write_idx
from dynamarks.models.networks import build

SAMPLES = 120


def make_serve_files(tmp_path):
    """A tiny Fashion-MNIST-shaped test split, a confident FashionCNN checkpoint and a
    parameter file; returns (data dir, checkpoint, model, params, params file)."""
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    write_idx(data / "t10k-images-idx3-ubyte", rng.integers(0, 256, (SAMPLES, 28, 28)))
    write_idx(data / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, SAMPLES))
    model = build("fmnist_cnn", 1, 10, 28, seed=0)
    with torch.no_grad():
        model.fc.weight.mul_(40.0)  # confident outputs: many maxima inside (0.9, 1)
    ckpt = tmp_path / "model.pt"
    save_checkpoint(ckpt, model, dataset="fmnist")
    params = keygen(classes=10, seed=11)
    pfile = tmp_path / "params.dmk"
    save_params(params, pfile)
    return data, ckpt, model, params, pfile


@pytest.fixture
def setup(tmp_path):
    return (tmp_path, *make_serve_files(tmp_path))


def oracle(model, data, params):
    x, y = load_dataset("fmnist", "test", root=data)
    with torch.no_grad():
        probs = torch.softmax(model(x).double(), dim=1).numpy()
    p = to_fixed(probs, params.width)
    words = np.frombuffer(Trivium(params.key, params.iv).keystream(4 * len(p)), dtype="<u4")
    out = alter(params, p, words).out
    return to_float(out, params.width), (out != p).any(axis=1), y.numpy()


def test_serve_with_params(setup, capsys):
    tmp, data, ckpt, model, params, pfile = setup
    out = tmp / "altered.npy"
    rc = cli.main(["predict", "--checkpoint", str(ckpt), "--split", "test", "--data", str(data),
                   "--backend", "reference", "--params", str(pfile), "-o", str(out),
                   "--batch-size", "17"])
    assert rc == 0
    want, changed, y = oracle(model, data, params)
    got = np.load(out)
    assert got.shape == (SAMPLES, 10)
    np.testing.assert_array_equal(got, want)
    assert 10 < changed.sum() < SAMPLES
    text = capsys.readouterr().out
    assert f"({int(changed.sum())} altered)" in text
    # The per-class table: one row per class with its vector and altered counts.
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) == 5:
            rows[cells[0]] = cells
    for k in range(10):
        n, a = int((y == k).sum()), int(changed[y == k].sum())
        assert rows[str(k)][2:4] == [str(n), str(a)], f"class {k}"
    assert rows["all"][2:4] == [str(SAMPLES), str(int(changed.sum()))]
    assert params.key.hex() not in text


def test_serve_limit_and_quiet(setup, capsys):
    tmp, data, ckpt, model, params, pfile = setup
    out = tmp / "altered.npy"
    assert cli.main(["predict", "--checkpoint", str(ckpt), "--data", str(data), "--params",
                     str(pfile), "-o", str(out), "--limit", "30", "--quiet"]) == 0
    want, _, _ = oracle(model, data, params)
    np.testing.assert_array_equal(np.load(out), want[:30])


def test_serve_errors_write_nothing(setup, capsys):
    tmp, data, ckpt, model, params, pfile = setup
    out = tmp / "altered.npy"
    base = ["predict", "--checkpoint", str(ckpt), "--data", str(data), "-o", str(out)]
    assert cli.main(base) == 2  # neither --params nor --secrets
    assert "exactly one of --params" in capsys.readouterr().err
    assert cli.main([*base, "--params", str(pfile), "--secrets", str(pfile)]) == 2
    capsys.readouterr()
    other = tmp / "n4.dmk"
    save_params(keygen(classes=4, seed=1), other)
    assert cli.main([*base, "--params", str(other)]) == 2
    assert "10 classes" in capsys.readouterr().err
    assert cli.main([*base, "--params", str(pfile), "--port", "/dev/null"]) == 2
    assert "serial backend only" in capsys.readouterr().err
    assert not out.exists()


def sealed_predict(setup, swtpm) -> tuple:
    """Seal the test's parameters under PCR 16 of ``swtpm``; returns (output path, argv of
    `dynamarks predict` with --secrets)."""
    tmp, data, ckpt, model, params, pfile = setup
    sealed = tmp / "secrets.sealed"
    seal_params(params, sealed, tcti=swtpm.tcti, pcrs=[16])
    out = tmp / "altered.npy"
    return out, ["predict", "--checkpoint", str(ckpt), "--data", str(data), "--secrets",
                 str(sealed), "--tcti", swtpm.tcti, "-o", str(out), "--quiet"]


@pytest.mark.tpm
def test_serve_with_sealed_secrets(setup, swtpm, capsys):
    out, argv = sealed_predict(setup, swtpm)
    tmp, data, ckpt, model, params, pfile = setup
    assert cli.main(argv) == 0
    want, _, _ = oracle(model, data, params)
    np.testing.assert_array_equal(np.load(out), want)
    out.unlink()
    # A wrong TCTI: one clear line, no output.
    bad = [a if a != swtpm.tcti else "swtpm:host=127.0.0.1,port=1" for a in argv]
    assert cli.main(bad) == 2
    assert "cannot reach a TPM" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.tpm
def test_failed_unseal_leaves_the_device_untouched(setup, swtpm, capsys):
    """PCR 16 changes after sealing: serve fails before the board sees a single frame."""
    from dynamarks.host import tpm
    from tests.test_host_serial import FakeBoard

    tmp, data, ckpt, model, params, pfile = setup
    board = FakeBoard()
    try:
        out, argv = sealed_predict(setup, swtpm)
        argv += ["--backend", "serial", "--port", board.port, "--timeout", "1"]
        assert cli.main(argv) == 0  # through the serial backend: same outputs
        want, _, _ = oracle(model, data, params)
        np.testing.assert_array_equal(np.load(out), want)
        out.unlink()
        board.locked = board.configured = False  # as after a reset
        with tpm.open_tpm(swtpm.tcti) as ctx:
            tpm.extend_pcr(ctx, 16, b"another boot path")
        assert cli.main(argv) == 2
        assert "PCR state changed" in capsys.readouterr().err
        assert not board.configured and not board.locked and not out.exists()
    finally:
        board.close()
