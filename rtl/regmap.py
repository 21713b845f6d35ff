"""The AXI4-Lite register map of the watermark IP, declared once.

Everything else is generated from :func:`register_map`: the address decoder of
:class:`dynamarks.rtl.axi.WatermarkAxi`, the SystemRDL text (:func:`to_systemrdl`) that PeakRDL
renders into the C header, the register documentation and IP-XACT (``dynamarks export-ip``),
and the tests' expectations.

Layout (byte addresses, 32-bit registers, ``A`` = the unit's config address width
``2 + 2·max(2, ceil(log2 N))``, AXI address width ``A + 3``)::

    0x000 ID           r    0x444D4B57 ("DMKW")
    0x004 VERSION      r    MINOR[7:0] MAJOR[15:8] SPEC[23:16]
    0x008 GEOMETRY     r    CLASSES[7:0] = N, WIDTH[15:8] = W
    0x00C CTRL         w    START[0] (Trivium warm-up), LOCK[1] (refuse CTRL/secret writes
                            until reset); reads 0
    0x010 STATUS       r    RUNNING[0], LOCKED[1]
    0x014 IRQ          rw   ENABLE[0]; PENDING[1] set when a vector is rejected, write 1 to
                            clear; the ``irq`` output is ENABLE & PENDING (a level)
    0x018 VECTORS_IN   r    vectors accepted (32-bit, wraps)
    0x01C VECTORS_OUT  r    vectors sent
    0x020 REJECTED     r    vectors dropped as malformed (wrong tlast position)
    SECRET = 1 << (A + 2): the unit's configuration space, word ``a`` at SECRET + 4·a
    (address map of :mod:`dynamarks.rtl.param_store`), all write-only, reads return 0:
    SECRET + 4·(0·2^2B + i·2^B + k)   C[i][k]   17 bits   (i, k < N)
    SECRET + 4·(1·2^2B + i·2^B + f)   ALPHA, BETA, A, B of class i (f = 0…3), W bits
    SECRET + 4·(2·2^2B + w)           KEY_IV[w] (w = 0…4): key bytes 0…9 then IV bytes 0…9,
                                      little-endian words (SPEC §3.2 bytes 8…27)

Responses: a write to an address that is not writable (unmapped, read-only) gets SLVERR and
changes nothing; so does a write to CTRL or a secret while LOCKED, and a write whose WSTRB is
not 0b1111 (registers are written whole). A read of an unmapped address gets SLVERR and 0; a
read of a write-only register (CTRL, secrets) gets OKAY and 0 — the secrets are write-only and
no read path reaches them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .param_store import (
    C_BITS,
    SPACE_C,
    SPACE_KEY,
    SPACE_WINDOW,
    class_bits,
    config_addr_width,
)

__all__ = [
    "ID_VALUE", "VERSION", "Field", "Register", "SecretBlock", "RegisterMap", "register_map",
    "to_systemrdl",
]

ID_VALUE = 0x444D4B57  # "DMKW"
#: (major, minor) of the IP and of the SPEC it implements
VERSION = (1, 0)
SPEC_VERSION = 1


@dataclass(frozen=True)
class Field:
    """A register field: bits ``[lsb + width − 1 : lsb]``.

    ``access``: ``r`` (hardware status), ``const`` (read-only constant ``value``), ``w``
    (write-only; reads 0), ``pulse`` (write-only, one-cycle strobe), ``rw``, ``rw1c`` (hardware
    sets, software writes 1 to clear).
    """

    name: str
    lsb: int
    width: int
    access: str
    desc: str
    value: int = 0

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lsb


@dataclass(frozen=True)
class Register:
    """One 32-bit control/status register at byte ``offset``."""

    name: str
    offset: int
    desc: str
    fields: tuple[Field, ...]

    @property
    def readable(self) -> bool:
        return any(f.access in ("r", "const", "rw", "rw1c") for f in self.fields)

    @property
    def writable(self) -> bool:
        return any(f.access in ("w", "pulse", "rw", "rw1c") for f in self.fields)

    @property
    def value(self) -> int:
        """The constant read value of a register of ``const`` fields."""
        return sum(f.value << f.lsb for f in self.fields if f.access == "const")

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


@dataclass(frozen=True)
class SecretBlock:
    """A write-only table in the secret space: ``count`` rows of ``members`` registers.

    Row ``i``, member ``m`` is at ``base + i·stride + 4·m``; each holds one ``bits``-wide value.
    """

    name: str
    base: int
    count: int
    stride: int
    members: tuple[str, ...]
    bits: int
    desc: str

    def addresses(self) -> list[int]:
        return [self.base + i * self.stride + 4 * m
                for i in range(self.count) for m in range(len(self.members))]


@dataclass(frozen=True)
class RegisterMap:
    """The whole map for one ``(classes, width)``; see the module docstring."""

    classes: int
    width: int
    addr_width: int
    secret_base: int
    registers: tuple[Register, ...]
    secrets: tuple[SecretBlock, ...]

    def __getitem__(self, name: str) -> Register:
        for r in self.registers:
            if r.name == name:
                return r
        raise KeyError(name)

    def secret_address(self, config_addr: int) -> int:
        """AXI byte address of the unit's configuration word ``config_addr``."""
        return self.secret_base + 4 * config_addr

    def secret_addresses(self) -> set[int]:
        return {a for s in self.secrets for a in s.addresses()}

    def classify(self, addr: int) -> tuple[str, Register | None]:
        """``("reg", r)``, ``("secret", None)`` or ``("unmapped", None)`` for a byte address
        (the two low bits are ignored, as the hardware does)."""
        addr &= ~3 & ((1 << self.addr_width) - 1)
        for r in self.registers:
            if r.offset == addr:
                return "reg", r
        if addr in self.secret_addresses():
            return "secret", None
        return "unmapped", None


def register_map(classes: int, width: int) -> RegisterMap:
    """The register map of ``WatermarkAxi(classes, width)``."""
    b = class_bits(classes)
    a = config_addr_width(classes)
    secret = 1 << (a + 2)
    major, minor = VERSION

    def const(name, lsb, bits, value, desc):
        return Field(name, lsb, bits, "const", desc, value)

    def counter(name, off, desc):
        return Register(name, off, desc, (Field("COUNT", 0, 32, "r", desc + " (wraps)"),))

    regs = (
        Register("ID", 0x00, "Identifies the DynaMarks watermark IP.",
                 (const("ID", 0, 32, ID_VALUE, 'The constant 0x444D4B57 ("DMKW").'),)),
        Register("VERSION", 0x04, "IP and specification versions.", (
            const("MINOR", 0, 8, minor, "IP minor version."),
            const("MAJOR", 8, 8, major, "IP major version."),
            const("SPEC", 16, 8, SPEC_VERSION, "Version of the bit-exact SPEC implemented."),
        )),
        Register("GEOMETRY", 0x08, "The unit's build parameters.", (
            const("CLASSES", 0, 8, classes, "N: words (class probabilities) per vector."),
            const("WIDTH", 8, 8, width, "W: bits per probability word (1.0 = 2^(W-1))."),
        )),
        Register("CTRL", 0x0C, "Control strobes; refused (SLVERR) while LOCKED; reads 0.", (
            Field("START", 0, 1, "pulse",
                  "Start the keystream (Trivium warm-up) from the written key and IV."),
            Field("LOCK", 1, 1, "pulse",
                  "Refuse every CTRL and secret write until reset."),
        )),
        Register("STATUS", 0x10, "Unit status.", (
            Field("RUNNING", 0, 1, "r", "The keystream runs: the unit accepts vectors."),
            Field("LOCKED", 1, 1, "r", "CTRL and secret writes are refused until reset."),
        )),
        Register("IRQ", 0x14, "Level interrupt: irq = ENABLE & PENDING.", (
            Field("ENABLE", 0, 1, "rw", "Drive the irq output while PENDING."),
            Field("PENDING", 1, 1, "rw1c",
                  "A vector was rejected as malformed; write 1 to clear."),
        )),
        counter("VECTORS_IN", 0x18, "Vectors accepted"),
        counter("VECTORS_OUT", 0x1C, "Vectors sent"),
        counter("REJECTED", 0x20, "Vectors dropped as malformed on the stream"),
    )
    row = 4 << b
    secrets = (
        SecretBlock("C", secret + 4 * (SPACE_C << 2 * b), classes, row,
                    tuple(f"C{k}" for k in range(classes)), C_BITS,
                    "Cumulative thresholds C[i][k] of V_i over 2^16 (SPEC §3, §8)."),
        SecretBlock("WINDOW", secret + 4 * (SPACE_WINDOW << 2 * b), classes, row,
                    ("ALPHA", "BETA", "A", "B"), width,
                    "Window (alpha, beta), exclusive, and Δ range [a, b) of class i (SPEC §3)."),
        SecretBlock("KEY_IV", secret + 4 * (SPACE_KEY << 2 * b), 1, 20,
                    tuple(f"W{k}" for k in range(5)), 32,
                    "Trivium key bytes 0…9 then IV bytes 0…9 as five little-endian words."),
    )
    return RegisterMap(classes, width, a + 3, secret, regs, secrets)


# ---- SystemRDL -------------------------------------------------------------------------------

_RDL_ACCESS = {
    "r": "sw = r; hw = w;",
    "const": "sw = r; hw = na;",
    "w": "sw = w; hw = r;",
    "pulse": "sw = w; hw = r; singlepulse;",
    "rw": "sw = rw; hw = r;",
    "rw1c": "sw = rw; hw = r; onwrite = woclr; hwset;",
}


def _rdl_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rdl_field(f: Field, indent: str) -> str:
    value = f" = 0x{f.value:x}" if f.access == "const" else (
        " = 0" if f.access in ("rw", "rw1c", "pulse", "w") else "")
    return (f"{indent}field {{ {_RDL_ACCESS[f.access]} desc = {_rdl_str(f.desc)}; }} "
            f"{f.name}[{f.lsb + f.width - 1}:{f.lsb}]{value};\n")


def to_systemrdl(rmap: RegisterMap, name: str = "dynamarks_wm") -> str:
    """SystemRDL 2.0 source of the map (one ``addrmap`` named ``name``)."""
    out = [
        f"// Generated by dynamarks.rtl.regmap for N = {rmap.classes}, W = {rmap.width}.\n",
        "// Do not edit: change rtl/regmap.py and run `dynamarks export-ip`.\n",
        f"addrmap {name} {{\n",
        f"    name = {_rdl_str(f'DynaMarks watermark unit (N={rmap.classes}, W={rmap.width})')};\n",
        "    desc = \"AXI4-Lite registers of the DynaMarks watermark IP. Secrets are write-only: "
        "every read of the secret space returns 0.\";\n",
        "    default regwidth = 32;\n",
    ]
    for r in rmap.registers:
        out.append(f"    reg {{\n        name = {_rdl_str(r.name)};\n"
                   f"        desc = {_rdl_str(r.desc)};\n")
        out += [_rdl_field(f, "        ") for f in r.fields]
        out.append(f"    }} {r.name} @ 0x{r.offset:x};\n")
    for s in rmap.secrets:
        value = (f"        reg {{ desc = \"write-only\"; field {{ sw = w; hw = r; }} "
                 f"VALUE[{s.bits - 1}:0] = 0; }}")
        if s.count == 1:
            out.append(f"    regfile {{\n        desc = {_rdl_str(s.desc)};\n")
            out += [f"{value} {m} @ 0x{4 * k:x};\n" for k, m in enumerate(s.members)]
            out.append(f"    }} {s.name} @ 0x{s.base:x};\n")
        else:
            out.append(f"    regfile {{\n        desc = {_rdl_str(s.desc)};\n")
            out += [f"{value} {m} @ 0x{4 * k:x};\n" for k, m in enumerate(s.members)]
            out.append(f"    }} {s.name}[{s.count}] @ 0x{s.base:x} += 0x{s.stride:x};\n")
    out.append("};\n")
    return "".join(out)
