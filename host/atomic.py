"""The one atomic file writer: a file appears whole at its path, or not at all.

* :func:`atomic_output(path, mode=0o644, overwrite=True)` — a context manager that yields a
  fresh temporary path beside ``path`` (same directory, so the final ``os.replace`` is
  atomic); when the block ends normally the temporary file (fsynced) replaces ``path``, when
  it raises the temporary file is removed and ``path`` is untouched.
* :func:`write_bytes_atomic(path, data, mode=0o600, overwrite=True)` — the common case.

A path that cannot be written (missing directory, a directory, no permission, an existing
file with ``overwrite=False``) is a :class:`DynamarksError` with a one-line reason, raised
before anything is created. Secret files use ``mode=0o600``: the temporary file is created
with that mode, so the content is never readable by others, not even briefly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dynamarks.host.errors import DynamarksError


def check_writable(path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    """``path`` as a Path if a file can be written there, else :class:`DynamarksError`."""
    path = Path(path)
    parent = path.parent
    if path.is_dir():
        raise DynamarksError(f"cannot write {path}: it is a directory")
    if not parent.is_dir():
        raise DynamarksError(f"cannot write {path}: directory {parent} does not exist")
    if path.exists() and not overwrite:
        raise DynamarksError(f"{path} exists; refusing to overwrite it (use --force)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DynamarksError(f"cannot write {path}: permission denied in {parent}")
    return path


@contextmanager
def atomic_output(
    path: str | os.PathLike[str], *, mode: int = 0o644, overwrite: bool = True
) -> Iterator[Path]:
    """See the module docstring. The yielded path exists (empty, with ``mode``)."""
    path = check_writable(path, overwrite=overwrite)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
    except OSError as exc:
        raise DynamarksError(f"cannot write {path}: {exc.strerror}") from None
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DynamarksError(f"cannot write {path}: {exc.strerror}") from None


def write_bytes_atomic(
    path: str | os.PathLike[str], data: bytes, *, mode: int = 0o600, overwrite: bool = True
) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, mode=mode, overwrite=overwrite) as tmp, open(tmp, "wb") as f:
        f.write(data)
