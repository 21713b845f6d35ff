""".npy files of rows, read and written a chunk at a time, so a file larger than memory streams.

* :func:`open_rows(path)` — the array of a .npy file, memory-mapped read-only (nothing is
  read until a chunk is touched); refuses anything but a 2-D numeric array with one line.
* :func:`chunks(m, n)` — ``(start, stop)`` row ranges of about :data:`CHUNK_ELEMENTS`
  elements each: the working set of a streaming pass, whatever M is.
* :class:`RowWriter` — writes a float64 (M, N) .npy sequentially, chunk by chunk, through
  :func:`dynamarks.host.atomic.atomic_output`: the file appears at its path only when all M
  rows are written; on any error nothing is left behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

import numpy as np

from dynamarks.host.atomic import atomic_output
from dynamarks.host.errors import DynamarksError, InputError

#: Elements per chunk (8 MiB of float64): large enough that per-chunk costs vanish, small
#: enough that a chunk's temporaries stay in the tens of MiB.
CHUNK_ELEMENTS = 1 << 20


def open_rows(path: str | os.PathLike[str]) -> np.ndarray:
    """The (M, N) numeric array in the .npy file ``path``, memory-mapped read-only."""
    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise DynamarksError(f"cannot read {path}: it {what}")
    try:
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DynamarksError(f"cannot read {path} as a .npy array: {reason}") from None
    if not isinstance(x, np.ndarray):
        raise DynamarksError(f"cannot read {path} as a .npy array: it is an .npz archive")
    if x.ndim != 2:
        raise InputError(f"{path}: expected a 2-D array of rows (M, N), got shape {x.shape}")
    if x.dtype == np.bool_ or not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise InputError(f"{path}: probabilities must be real numbers, got dtype {x.dtype}")
    return x


def chunks(m: int, n: int, elements: int = CHUNK_ELEMENTS) -> Iterator[tuple[int, int]]:
    """Row ranges ``(start, stop)`` covering 0..m, about ``elements`` elements each."""
    step = max(1, elements // max(1, n))
    for start in range(0, m, step):
        yield start, min(m, start + step)


class RowWriter:
    """``with RowWriter(path, m, n) as w: w.write(rows)`` — see the module docstring.

    The rows written must add up to exactly M; fewer is an error (and nothing appears).
    """

    def __init__(self, path: str | os.PathLike[str], m: int, n: int) -> None:
        self.path = Path(path)
        self.shape = (m, n)
        self.written = 0
        self._stack = ExitStack()
        self._file = None

    def __enter__(self) -> RowWriter:
        tmp = self._stack.enter_context(atomic_output(self.path))
        try:
            self._file = self._stack.enter_context(open(tmp, "wb"))
            header = {"descr": "<f8", "fortran_order": False, "shape": self.shape}
            np.lib.format.write_array_header_1_0(self._file, header)
        except OSError as exc:
            self._stack.__exit__(*_exc_info(exc))
            raise DynamarksError(f"cannot write {self.path}: {exc.strerror}") from None
        return self

    def write(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype="<f8")
        if rows.ndim != 2 or rows.shape[1] != self.shape[1] \
                or self.written + rows.shape[0] > self.shape[0]:
            raise ValueError(f"rows of shape {rows.shape} do not fit {self.shape}")
        try:
            self._file.write(rows.data)
        except OSError as exc:
            raise DynamarksError(f"cannot write {self.path}: {exc.strerror}") from None
        self.written += rows.shape[0]

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> bool | None:
        if et is None and self.written != self.shape[0]:
            err = ValueError(f"{self.written} rows written of {self.shape[0]}")
            self._stack.__exit__(*_exc_info(err))
            raise err
        return self._stack.__exit__(et, ev, tb)


def _exc_info(exc: BaseException) -> tuple[type[BaseException], BaseException, None]:
    return type(exc), exc, None
