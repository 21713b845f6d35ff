"""One iCE40 ``SB_LUT4`` as a cell of its own, for paths where the synthesiser's own LUT mapping
adds a level (it merges a small function into a shared LUT or spreads it over two).

``lut_init(f)`` is the ``LUT_INIT`` for ``O = f((I0, I1, I2, I3))``; ``lut(...)`` instantiates
the cell on the iCE40 and is plain logic elsewhere (what the proofs and the other families get).
"""

from collections.abc import Callable

from amaranth import Const, Instance, Module, Signal, Value

__all__ = ["lut", "lut_init"]


def lut_init(f) -> Const:
    """An ``SB_LUT4``'s ``LUT_INIT`` for ``O = f((I0, I1, I2, I3))`` (bits 0/1)."""
    return Const(sum(1 << k for k in range(16)
                     if f(tuple(k >> j & 1 for j in range(4)))), 16)


def lut(m: Module, ice40: bool, name: str, f: Callable[..., Value], ins: tuple,
        out: Signal) -> None:
    """``out = f(*ins)`` (up to four one-bit inputs; ``f`` built from ``&``, ``|`` and ``^ 1``
    for NOT, so that it evaluates on 0/1 integers as on signals): one ``SB_LUT4`` on the iCE40
    (which the synthesiser can neither merge with other logic nor spread over several LUTs),
    plain logic otherwise."""
    if not ice40:
        m.d.comb += out.eq(f(*ins))
        return
    k = len(ins)
    pins = list(ins) + [Const(0, 1)] * (4 - k)
    m.submodules[name] = Instance(
        "SB_LUT4", p_LUT_INIT=lut_init(lambda i: f(*i[:k]) & 1),
        i_I0=pins[0], i_I1=pins[1], i_I2=pins[2], i_I3=pins[3], o_O=out)
