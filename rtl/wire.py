"""Wire-format constants of the host ↔ board protocol (docs/PROTOCOL.md), shared by both sides.

Pure Python, no Amaranth: the gateware (``dynamarks.rtl.framing``, ``dynamarks.rtl.top``) and the
host codec (``dynamarks.host.protocol``) both import this module, so the numbers below exist once.

Frame before COBS: ``type(1) | seq(1) | length(2, LE) | payload(length) | CRC-16(2, big-endian)``.
The CRC is CRC-16/CCITT-FALSE over every byte before it; with the CRC appended big-endian the CRC of
the whole frame is 0 (the receiver's check).
"""

from __future__ import annotations

from enum import IntEnum

PROTOCOL_VERSION = 1

#: Bytes of a frame around the payload: type, seq, length (2) and the CRC (2).
HEADER_BYTES = 4
FRAME_OVERHEAD = 6

#: CRC-16/CCITT-FALSE: polynomial 0x1021, init 0xFFFF, not reflected, no final XOR.
CRC16_POLY = 0x1021
CRC16_INIT = 0xFFFF

#: SPEC §3.2 parameter-set encoding: 8-byte header, 5 words key+IV... see config_bytes().
PARAMS_MAGIC = b"DMKP"
PARAMS_VERSION = 1
PARAMS_HEADER_BYTES = 8

#: Length of the STATUS reply payload (layout in docs/PROTOCOL.md §5).
STATUS_BYTES = 40


class FrameType(IntEnum):
    """The type byte. Requests come from the host, replies (bit 7 set) from the device."""

    CONFIGURE = 0x01
    LOCK = 0x02
    VECTORS = 0x03
    STATUS = 0x04
    ACK = 0x80
    NACK = 0x81
    VECTORS_REPLY = 0x83
    STATUS_REPLY = 0x84


class NackReason(IntEnum):
    """The first payload byte of a NACK. Checked in this order (the first that applies wins)."""

    FRAMING = 0x01  # COBS block cut short by the delimiter, or a UART stop-bit error in the frame
    OVERFLOW = 0x02  # decoded frame longer than the device's buffer
    SHORT = 0x03  # fewer than 6 decoded bytes: no room for a header and a CRC
    CRC = 0x04  # CRC-16 mismatch
    LENGTH = 0x05  # length field differs from the payload bytes received
    TYPE = 0x06  # unknown request type
    CLASSES = 0x07  # payload does not fit the device's N and W (wrong number of classes)
    LOCKED = 0x08  # CONFIGURE after LOCK
    NOT_CONFIGURED = 0x09  # VECTORS or LOCK before a successful CONFIGURE


def word_bytes(width: int) -> int:
    """Bytes per probability word on the wire: ceil(W/8), little-endian."""
    return (width + 7) // 8


def config_bytes(classes: int) -> int:
    """Length of the SPEC §3.2 encoding (the CONFIGURE payload) for N classes."""
    return PARAMS_HEADER_BYTES + 20 + 4 * classes * (4 + classes) + 4


def config_words(classes: int) -> int:
    """32-bit words the device writes into the parameter store: key+IV (5) and the class tables."""
    return 5 + classes * (4 + classes)


def buffer_depth(classes: int, width: int, max_vectors: int | None = None) -> int:
    """Bytes of the device's frame buffer: a power of two holding a CONFIGURE frame and
    ``max_vectors`` vectors (when given). See :func:`max_vectors_per_frame`."""
    need = config_bytes(classes) + FRAME_OVERHEAD
    if max_vectors is not None:
        need = max(need, FRAME_OVERHEAD + max_vectors * classes * word_bytes(width))
    depth = 256
    while depth < need:
        depth *= 2
    return depth


def max_vectors_per_frame(classes: int, width: int, max_vectors: int | None = None) -> int:
    """Most vectors one VECTORS frame may carry: ``max_vectors`` when given, otherwise as many as
    fit in :func:`buffer_depth` (50 for N=10, W=16). Capped at 65535 (the STATUS field)."""
    if max_vectors is not None:
        if not 1 <= max_vectors <= 0xFFFF:
            raise ValueError("max_vectors must be in 1..65535")
        return max_vectors
    depth = buffer_depth(classes, width)
    return min(0xFFFF, (depth - FRAME_OVERHEAD) // (classes * word_bytes(width)))
