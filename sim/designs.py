"""The designs under test: the WatermarkUnit's Verilog, or a deliberately broken copy.

``unit_verilog(classes, width)`` returns the Verilog text of the real unit
(``dynamarks.rtl.verilog.generate_verilog``); ``unit_verilog(..., bug=True)`` the same unit
with an alter stage that ignores SPEC §9's ``j == i`` rule (the maximum gives Δ even when it
would receive it back, so such a vector's sum drops by Δ) — a wrong design the scoreboard must
catch, used to test the bench infrastructure itself.

``payload_fields(classes, width)`` gives the (offset, width) of the stream payload's fields
(``data``, ``first``, ``last``), read from the RTL's ``word_layout``;
``config_writes(params)`` the ``(address, word)`` writes that load a parameter set through
the config port (rtl/param_store.py's address map). Port names are in :data:`PORTS`.
"""

from __future__ import annotations

#: Verilog names of the unit's config and status ports (rtl/unit.py).
PORTS = {
    "addr": "config__addr",
    "data": "config__data",
    "we": "config__we",
    "start": "config__start",
    "lock": "config__lock",
    "running": "config__running",
    "locked": "config__locked",
}


def unit_verilog(classes: int, width: int, bug: bool = False) -> str:
    """Verilog of ``WatermarkUnit(classes, width)`` (with ``bug``: the broken copy above)."""
    from amaranth.back import verilog

    from dynamarks.rtl.unit import WatermarkUnit

    if not bug:
        from dynamarks.rtl.verilog import generate_verilog

        return generate_verilog(classes, width)
    from amaranth import Module, Mux, Signal

    from dynamarks.rtl.alter import AlterStage

    class IgnoresJEqualsI(AlterStage):
        def elaborate(self, platform):
            m = Module()
            w = self.width
            base, change, sub = Signal(w), Signal(), Signal()
            change_now = self.ok & (self.is_i | self.hit)     # j == i: still gives Δ
            moved = (self.p + Mux(self.is_i, ~self.a, self.a) + self.is_i)[:w]
            with m.If(self.en):
                m.d.sync += [base.eq(Mux(change_now, moved, self.p)), change.eq(change_now),
                             sub.eq(change_now & self.is_i)]
            operand = Mux(change, Mux(sub, ~self.hi, self.hi), 0)
            m.d.comb += self.out.eq((base + operand + sub)[:w])
            return m

    class BrokenUnit(WatermarkUnit):
        alter_stage = IgnoresJEqualsI

    return verilog.convert(BrokenUnit(classes=classes, width=width), name="watermark_unit",
                           emit_src=False)


def payload_fields(classes: int, width: int) -> dict[str, tuple[int, int]]:
    """Field name -> (offset, width) of the unit's stream payload."""
    from dynamarks.rtl.unit import word_layout
    from dynamarks.sim.stream import layout_fields

    return layout_fields(word_layout(width))


def config_writes(params) -> list[tuple[int, int]]:
    """``(address, word)`` writes that load ``params`` (a ``Params``) into the unit."""
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
