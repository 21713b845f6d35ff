"""Data sets: Fashion-MNIST (IDX files) and CIFAR-10 (python-pickle batches), no downloads.

``load_dataset(name, split, root=None) -> (x, y)``: ``x`` a float32 tensor ``[M, C, H, W]``
with values in [0, 1], ``y`` an int64 tensor ``[M]`` of class indices.

* Fashion-MNIST (``fmnist``): the four IDX files ``{train,t10k}-{images-idx3,labels-idx1}-ubyte``,
  plain or gzipped, from ``root`` or else from the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist``).
* CIFAR-10 (``cifar10``): ``data_batch_1`` … ``data_batch_5`` and ``test_batch`` (the pickled
  dicts with ``b"data"`` uint8[M, 3072] and ``b"labels"``) in ``root`` or
  ``root/cifar-10-batches-py``. There is no Debian package; ``root`` (or the environment
  variable ``DYNAMARKS_CIFAR10``) must name the folder.

Missing data raises :class:`DataError` naming the package or folder to provide.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dynamarks.host.errors import DynamarksError

FMNIST_PACKAGE = "dataset-fashion-mnist"
FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FMNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
# IDX element types (the third byte of the magic number).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(DynamarksError):
    """A data set is missing or malformed; the message says what to install or where to look."""


@dataclass(frozen=True)
class DatasetInfo:
    """Shape facts about a data set and the paper's victim architecture for it."""

    name: str
    channels: int
    image_size: int
    classes: int
    class_names: tuple[str, ...]
    victim_arch: str


DATASETS: dict[str, DatasetInfo] = {
    "fmnist": DatasetInfo("fmnist", 1, 28, 10, FMNIST_CLASSES, "fmnist_cnn"),
    "cifar10": DatasetInfo("cifar10", 3, 32, 10, CIFAR10_CLASSES, "cifar_cnn"),
}
_ALIASES = {"fashion-mnist": "fmnist", "fashion_mnist": "fmnist", "fashionmnist": "fmnist",
            "cifar-10": "cifar10", "cifar_10": "cifar10"}


def dataset_info(name: str) -> DatasetInfo:
    """Facts for ``name`` (``fmnist`` or ``cifar10``, a few spellings accepted)."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in DATASETS:
        raise DataError(f"unknown data set {name!r} (known: {', '.join(DATASETS)})")
    return DATASETS[key]


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (gzipped when its name ends in .gz) into a numpy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    ndim = data[3]
    dims = struct.unpack_from(f">{ndim}I", data, 4)
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    offset = 4 + 4 * ndim
    count = int(np.prod(dims)) if dims else 1
    if len(data) - offset != count * dtype.itemsize:
        raise DataError(f"{path}: size does not match its header {dims}")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], arr: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzipped when the name ends in .gz), for tests."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    data = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    path = Path(path)
    with (gzip.open if path.suffix == ".gz" else open)(path, "wb") as f:
        f.write(data)


def _find_file(root: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (root / name).is_file():
            return root / name
    return None


def _load_fmnist(split: str, root: Path | None) -> tuple[np.ndarray, np.ndarray]:
    folder = root if root is not None else FMNIST_DIR
    prefix = "train" if split == "train" else "t10k"
    images = _find_file(folder, f"{prefix}-images-idx3-ubyte")
    labels = _find_file(folder, f"{prefix}-labels-idx1-ubyte")
    if images is None or labels is None:
        where = (
            f"the folder {folder}"
            if root is not None
            else f"{FMNIST_DIR} (Debian package {FMNIST_PACKAGE}: "
            f"sudo apt-get install {FMNIST_PACKAGE}, or pass --data DIR)"
        )
        raise DataError(
            f"Fashion-MNIST {split} split not found in {where}: need "
            f"{prefix}-images-idx3-ubyte[.gz] and {prefix}-labels-idx1-ubyte[.gz]"
        )
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DataError(f"Fashion-MNIST files in {folder} have inconsistent shapes")
    return x[:, None, :, :], y


def _load_cifar10(split: str, root: Path | None) -> tuple[np.ndarray, np.ndarray]:
    if root is None:
        env = os.environ.get("DYNAMARKS_CIFAR10")
        if not env:
            raise DataError(
                "CIFAR-10 has no Debian package: pass --data DIR (or set DYNAMARKS_CIFAR10) "
                "naming the folder with the python-pickle batches data_batch_1..5 and test_batch"
            )
        root = Path(env)
    folder = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").is_dir() else root
    names = [f"data_batch_{k}" for k in range(1, 6)] if split == "train" else ["test_batch"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataError(
            f"CIFAR-10 {split} split not found in the folder {folder}: missing {missing}"
        )
    xs, ys = [], []
    for n in names:
        try:
            with open(folder / n, "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            labels = np.asarray(batch[b"labels"], dtype=np.int64)
        except (OSError, pickle.UnpicklingError, KeyError, EOFError) as exc:
            raise DataError(f"{folder / n} is not a CIFAR-10 python batch: {exc}") from None
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(labels)
    return np.concatenate(xs), np.concatenate(ys)


def load_dataset(
    name: str, split: str, root: str | os.PathLike[str] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as float32 [M, C, H, W] in [0, 1] and labels as int64 [M] (see module doc)."""
    info = dataset_info(name)
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', not {split!r}")
    folder = Path(root) if root is not None else None
    if folder is not None and not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist")
    loader = _load_fmnist if info.name == "fmnist" else _load_cifar10
    x, y = loader(split, folder)
    if y.size and (y.min() < 0 or y.max() >= info.classes):
        raise DataError(f"{info.name} {split} labels outside 0..{info.classes - 1}")
    xt = torch.from_numpy(np.ascontiguousarray(x)).to(torch.float32).div_(255.0)
    return xt, torch.from_numpy(y.astype(np.int64))


def subset(
    x: torch.Tensor, y: torch.Tensor, fraction: float | None = None, count: int | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random subset of a data set: ``fraction`` of it or ``count`` samples."""
    n = len(x)
    k = n if count is None and fraction is None else (
        min(n, count) if count is not None else max(1, int(round(n * float(fraction))))
    )
    if k >= n:
        return x, y
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k]
    idx, _ = idx.sort()
    return x[idx], y[idx]
