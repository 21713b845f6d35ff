"""Data loaders: the IDX reader, Fashion-MNIST from a folder, CIFAR-10 pickles, clear errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from dynamarks.models import datasets
from dynamarks.models.datasets import DataError, load_dataset, read_idx, subset, write_idx


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, name):
    arr = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    write_idx(tmp_path / name, arr)
    got = read_idx(tmp_path / name)
    assert got.dtype == np.uint8 and np.array_equal(got, arr)


def test_idx_header_by_hand(tmp_path):
    """A file assembled byte by byte: magic 0x00000801, one dimension of 3, data 5 6 7."""
    (tmp_path / "l").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 5, 6, 7]))
    assert read_idx(tmp_path / "l").tolist() == [5, 6, 7]
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x00")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 9, 1]))
    with pytest.raises(DataError, match="size does not match"):
        read_idx(tmp_path / "short")


def _write_fmnist(folder, n_train=20, n_test=10, gz=True):
    rng = np.random.default_rng(1)
    ext = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}",
                  rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}",
                  rng.integers(0, 10, n, dtype=np.uint8))


@pytest.mark.parametrize("gz", [True, False])
def test_fmnist_from_folder(tmp_path, gz):
    _write_fmnist(tmp_path, gz=gz)
    x, y = load_dataset("fmnist", "train", tmp_path)
    raw = read_idx(tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else "")))
    assert x.shape == (20, 1, 28, 28) and y.shape == (20,)
    assert x.dtype.is_floating_point and str(y.dtype) == "torch.int64"
    assert np.allclose(x[:, 0].numpy() * 255, raw)
    xt, _ = load_dataset("Fashion-MNIST", "test", tmp_path)
    assert xt.shape == (10, 1, 28, 28)


def test_cifar10_pickle_batches(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, 4).tolist(), b"batch_label": name.encode()}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    x, y = load_dataset("cifar10", "train", tmp_path)
    assert x.shape == (20, 3, 32, 32) and y.shape == (20,)
    with open(folder / "test_batch", "rb") as f:
        test = pickle.load(f)
    xt, yt = load_dataset("cifar10", "test", folder)
    # Row layout: 1024 red, 1024 green, 1024 blue, each row-major 32x32.
    assert np.allclose(xt.numpy().reshape(4, -1) * 255, test[b"data"])
    assert yt.tolist() == test[b"labels"]


def test_missing_data_errors_name_the_fix(tmp_path, monkeypatch):
    with pytest.raises(DataError, match=str(tmp_path)):
        load_dataset("fmnist", "train", tmp_path)
    monkeypatch.setattr(datasets, "FMNIST_DIR", tmp_path / "nowhere")
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        load_dataset("fmnist", "test")
    monkeypatch.delenv("DYNAMARKS_CIFAR10", raising=False)
    with pytest.raises(DataError, match="--data DIR"):
        load_dataset("cifar10", "train")
    with pytest.raises(DataError, match="data_batch_1"):
        load_dataset("cifar10", "train", tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("fmnist", "train", tmp_path / "nope")
    with pytest.raises(DataError, match="unknown data set"):
        load_dataset("mnist", "train", tmp_path)


def test_subset_is_seeded():
    import torch

    x, y = torch.arange(100).float(), torch.arange(100)
    a, _ = subset(x, y, fraction=0.3, seed=4)
    b, _ = subset(x, y, fraction=0.3, seed=4)
    c, _ = subset(x, y, count=30, seed=5)
    assert len(a) == 30 and torch.equal(a, b) and not torch.equal(a, c)
    assert subset(x, y, count=1000)[0] is x
