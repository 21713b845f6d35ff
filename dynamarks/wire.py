"""Wire-format constants of the host ↔ board protocol (docs/PROTOCOL.md) and of the parameter-set
encoding (SPEC §3.2): the one home of these numbers.

Pure Python and standard library only (no Amaranth, no numpy): the gateware
(``dynamarks.rtl.framing``, ``dynamarks.rtl.top`` and its parts), the host codec
(``dynamarks.host.protocol``) and the parameter encoding (``dynamarks.host.params``) all import
this module, so a host install never pulls in gateware and each number exists once.

Frame before COBS: ``type(1) | seq(1) | length(2, LE) | payload(length) | CRC-16(2, big-endian)``.
The CRC is CRC-16/CCITT-FALSE over every byte before it; with the CRC appended big-endian the CRC of
the whole frame is 0 (the receiver's check).
"""

from __future__ import annotations

import struct
from enum import IntEnum

#: docs/PROTOCOL.md version. 2: pipelined (a window of frames in flight, advertised in STATUS;
#: VECTORS frames carry a sequence the device checks, NACK SEQUENCE).
PROTOCOL_VERSION = 2

#: Bytes of a frame around the payload: type, seq, length (2) and the CRC (2).
HEADER_BYTES = 4
FRAME_OVERHEAD = 6

#: CRC-16/CCITT-FALSE: polynomial 0x1021, init 0xFFFF, not reflected, no final XOR.
CRC16_POLY = 0x1021
CRC16_INIT = 0xFFFF

#: SPEC §3.2 parameter-set encoding: an 8-byte header (magic, version, W, N, reserved 0), the
#: 32-bit words of :func:`config_words`, a CRC-32. :data:`PARAMS_HEADER` packs the header.
PARAMS_MAGIC = b"DMKP"
PARAMS_VERSION = 1
PARAMS_HEADER = struct.Struct("<4sBBBB")
PARAMS_HEADER_BYTES = PARAMS_HEADER.size

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
    SEQUENCE = 0x0A  # VECTORS whose seq is not the device's next VECTORS sequence number


def word_bytes(width: int) -> int:
    """Bytes per probability word on the wire: ceil(W/8), little-endian."""
    return (width + 7) // 8


def config_words(classes: int) -> int:
    """32-bit words of the SPEC §3.2 encoding between header and CRC-32 (what the device writes
    into its parameter store): key+IV (5), then per class alpha, beta, a, b, C[i][0..N-1]."""
    return 5 + classes * (4 + classes)


def config_bytes(classes: int) -> int:
    """Length of the SPEC §3.2 encoding (the CONFIGURE payload) for N classes."""
    return PARAMS_HEADER_BYTES + 4 * config_words(classes) + 4


def params_header(classes: int, width: int) -> bytes:
    """The 8-byte SPEC §3.2 header of a parameter set for N classes and W bits (the first bytes
    of a CONFIGURE payload that a device built for N, W accepts)."""
    return PARAMS_HEADER.pack(PARAMS_MAGIC, PARAMS_VERSION, width, classes, 0)


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


#: Frame buffers (slots) of the device by default: the window it advertises in STATUS.
DEFAULT_SLOTS = 4


def line_bytes_per_frame(payload: int) -> int:
    """Bytes on the line for a frame with ``payload`` bytes: header and CRC, the COBS code bytes
    (at most one per 254 bytes, plus the first) and the delimiter (worst case)."""
    raw = payload + FRAME_OVERHEAD
    return raw + raw // 254 + 1 + 1


def vectors_per_second(baud: float, classes: int, width: int, vectors: int) -> float:
    """Line-rate bound of a pipelined host (PROTOCOL §7): frames of ``vectors`` vectors each way
    at once (full duplex), 10 bits a byte (8N1); the longer direction limits. Replies carry as
    many bytes as requests, so each direction needs ``line_bytes_per_frame`` bytes a frame."""
    per_frame = line_bytes_per_frame(vectors * classes * word_bytes(width))
    return baud / 10 / per_frame * vectors
