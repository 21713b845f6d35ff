"""ASIC estimate (rtl/asic.py, `make asic`): the Liberty parsing, the static timer and the
yosys + abc flow on small designs whose answers are known independently."""

from __future__ import annotations

import re

import pytest
from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from dynamarks.rtl import asic

pytestmark = [pytest.mark.synth]


@pytest.fixture(scope="module")
def lib():
    try:
        return asic.liberty_path()
    except asic.AsicError as exc:
        pytest.fail(str(exc))        # make setup provides it: never a silent skip


def test_areas_agree_with_the_cell_footprints(lib):
    """Liberty areas (µm²) equal width × height of the same cells in the kit's LEF."""
    areas = asic.liberty_areas(lib.read_text())
    lef = (lib.parent / "osu018_stdcells.lef").read_text()
    for cell in ("NAND2X1", "INVX1", "DFFPOSX1", "XOR2X1", "FAX1"):
        m = re.search(rf"MACRO {cell}\b.*?SIZE\s+([\d.]+)\s+BY\s+([\d.]+)", lef, re.S)
        assert areas[cell] == pytest.approx(float(m.group(1)) * float(m.group(2))), cell
    assert areas["NAND2X1"] == 24


def _dff(name, d, q):
    return {"type": "DFFPOSX1", "connections": {"CLK": [2], "D": [d], "Q": [q]}}


def _inv(a, y):
    return {"type": "INVX1", "connections": {"A": [a], "Y": [y]}}


def test_critical_path_of_inverter_chains(lib):
    timing = asic.parse_liberty(lib.read_text())
    dff = timing["DFFPOSX1"]
    assert set(dff.inputs) == {"CLK", "D"} and dff.setup["D"]
    assert [a.kind for a in dff.outputs["Q"]] == ["clock"]

    def chain(k):
        cells = {"ff0": _dff("ff0", 3, 10)}
        for i in range(k):
            cells[f"i{i}"] = _inv(10 + i, 11 + i)
        cells["ff1"] = _dff("ff1", 10 + k, 4)
        return {"ports": {}, "cells": cells}

    t = [asic.critical_path(chain(k), timing) for k in range(4)]
    # clock-to-Q + set-up of this library: a few hundred ps at 0.18 µm
    assert 100 < t[0] < 800
    # each inverter adds a positive delay of tens of ps, not more than a few hundred
    steps = [b - a for a, b in zip(t, t[1:], strict=False)]
    assert all(10 < s < 300 for s in steps), steps


class _Adder(wiring.Component):
    def __init__(self, bits):
        self.bits = bits
        super().__init__({"a": In(bits), "b": In(bits), "s": Out(bits + 1)})

    def elaborate(self, platform):
        m = Module()
        r = Signal(self.bits + 1)
        m.d.sync += r.eq(self.a + self.b)
        m.d.comb += self.s.eq(r)
        return m


def test_flow_on_registered_adders(lib):
    small = asic.synthesize(_Adder(4), "add4", lib=lib)
    big = asic.synthesize(_Adder(16), "add16", lib=lib)
    for res, bits in ((small, 4), (big, 16)):
        total = res["total"]
        assert total.flip_flops == bits + 1           # the result register, nothing else
        assert total.nand2_eq == pytest.approx(total.area_um2 / 24)
        assert total.area_um2 >= (bits + 1) * 96      # at least the flip-flops' area
    assert big["total"].area_um2 > 3 * small["total"].area_um2
    assert big["total"].delay_ps > small["total"].delay_ps   # a longer carry chain
    table = asic.markdown_table(big)
    assert "| **total** |" in table
