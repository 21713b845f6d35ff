"""CRC-16/CCITT-FALSE, one byte per clock, as combinational Amaranth logic.

:func:`crc16_next` returns the register value after shifting in one byte MSB first
(polynomial 0x1021, not reflected); with init 0xFFFF and no final XOR this is CRC-16/CCITT-FALSE,
the frame check of docs/PROTOCOL.md. The 8 unrolled steps collapse to an XOR network of at most
a few inputs per bit (about 30 LUT4s on an iCE40). Appending the CRC big-endian makes the CRC of
the whole frame 0, which is how the receiver checks it.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Value

from dynamarks.wire import CRC16_POLY


def crc16_next(crc: Value, byte: Value) -> Value:
    """The CRC register after ``byte`` (8 bits) given the register ``crc`` (16 bits)."""
    bits = [crc[k] for k in range(16)]
    for k in range(7, -1, -1):
        fb = bits[15] ^ byte[k]  # the bit shifted out, fed back through the polynomial
        shifted = [Const(0, 1)] + bits[:15]
        bits = [shifted[i] ^ fb if (CRC16_POLY >> i) & 1 else shifted[i] for i in range(16)]
    return Cat(*bits)
