"""The designs under test: the WatermarkUnit's Verilog, or the behavioural stand-in.

``unit_verilog(classes, width)`` returns the Verilog text of the real unit
(``dynamarks.rtl.verilog.generate_verilog``). With ``DMK_SIM_DUT=placeholder`` in the
environment it returns ``sim/placeholder_unit.v`` instead — a behavioural model with the same
ports, used to test the bench infrastructure itself (``placeholder_verilog(..., bug=True)``
is a deliberately wrong copy the scoreboard must catch).

``payload_fields(classes, width)`` gives the (offset, width) of the stream payload's fields
(``data``, ``first``, ``last``), read from the RTL's ``word_layout``;
``config_writes(params)`` the ``(address, word)`` writes that load a parameter set through
the config port (rtl/param_store.py's address map). Port names are in :data:`PORTS`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# The Verilog names of the unit's config and status ports live with the rtl backend's harness.
from dynamarks.host.verilated_unit import PORTS  # noqa: F401 - re-exported for the benches

PLACEHOLDER = Path(__file__).resolve().parent / "placeholder_unit.v"

def dut_kind() -> str:
    """``"rtl"`` (default) or ``"placeholder"``, from ``$DMK_SIM_DUT``."""
    kind = os.environ.get("DMK_SIM_DUT", "rtl")
    if kind not in ("rtl", "placeholder"):
        raise ValueError(f"DMK_SIM_DUT must be 'rtl' or 'placeholder', not {kind!r}")
    return kind


def placeholder_verilog(classes: int, width: int, bug: bool = False) -> str:
    """The stand-in unit with its parameters set (and the deliberate bug when ``bug``)."""
    text = PLACEHOLDER.read_text()
    text = re.sub(r"parameter N = \d+", f"parameter N = {classes}", text)
    text = re.sub(r"parameter W = \d+", f"parameter W = {width}", text)
    return ("`define PLACEHOLDER_BUG\n" if bug else "") + text


def unit_verilog(classes: int, width: int) -> str:
    """Verilog of ``WatermarkUnit(classes, width)`` (see the module docstring)."""
    if dut_kind() == "placeholder":
        return placeholder_verilog(classes, width)
    from dynamarks.rtl.verilog import generate_verilog

    return generate_verilog(classes, width)


def payload_fields(classes: int, width: int) -> dict[str, tuple[int, int]]:
    """Field name -> (offset, width) of the unit's stream payload."""
    if dut_kind() == "rtl":
        from dynamarks.rtl.unit import word_layout
        from dynamarks.sim.stream import layout_fields

        return layout_fields(word_layout(width))
    return {"data": (0, width), "first": (width, 1), "last": (width + 1, 1)}


def config_writes(params) -> list[tuple[int, int]]:
    """``(address, word)`` writes that load ``params`` (a ``Params``) into the unit."""
    if dut_kind() == "placeholder":
        return list(enumerate(params.config_words()))
    from dynamarks.rtl.param_store import config_writes as rtl_writes

    fields = {
        "key": params.key,
        "iv": params.iv,
        "alpha": params.alpha,
        "beta": params.beta,
        "a": params.a,
        "b": params.b,
        "C": params.thresholds,
    }
    return rtl_writes(fields, params.classes)
