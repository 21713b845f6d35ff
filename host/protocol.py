"""Host side of the board protocol (docs/PROTOCOL.md): frame codec, request builders, reply parsers.

Layers, bottom up:

* :func:`crc16` (CRC-16/CCITT-FALSE), :func:`cobs_encode` / :func:`cobs_decode`;
* :func:`encode_frame` / :func:`decode_frame`: a typed :class:`Frame` ↔ the bytes on the wire
  (COBS block plus the 0x00 delimiter);
* request builders (:func:`configure_frame`, :func:`lock_frame`, :func:`vectors_frame`,
  :func:`status_frame`) and reply parsers (:func:`parse_reply`, :class:`Status`);
* :class:`FrameLink`: transactions over anything with pyserial's ``read``/``write`` (a real
  board, the simulated board's pseudo-terminal, or a test's fake port): one request at a time,
  or VECTORS frames pipelined up to the device's window (PROTOCOL §6). A NACK becomes a
  :class:`NackError` subclass, a missing or garbled reply a :class:`LinkTimeout` /
  :class:`ReplyError`. Time-outs are counted in empty reads of the port (each one port read
  time-out long), never from the host's clock;
* :func:`expected_nack`: the device's acceptance rules as a function (the oracle of the tests).

Nothing here logs or formats a secret: the CONFIGURE payload is the caller's encoded parameter set
and no exception message contains payload bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dynamarks.host.errors import DynamarksError
from dynamarks.wire import (
    CRC16_INIT,
    CRC16_POLY,
    FRAME_OVERHEAD,
    STATUS_BYTES,
    FrameType,
    NackReason,
    config_bytes,
    params_header,
    word_bytes,
)

__all__ = [
    "FrameType", "NackReason", "Frame", "Status", "crc16", "cobs_encode", "cobs_decode",
    "encode_frame", "decode_frame", "configure_frame", "lock_frame", "vectors_frame",
    "status_frame", "pack_vectors", "unpack_vectors", "parse_reply", "expected_nack",
    "FrameReader", "FrameLink", "ProtocolError", "FramingError", "ReplyError", "LinkTimeout",
    "NackError", "nack_error", "NackSequence",
]


# --------------------------------------------------------------------------------------- errors
class ProtocolError(DynamarksError):
    """Anything that went wrong talking to the device."""


class FramingError(ProtocolError):
    """Bytes that are not a well-formed frame (bad COBS, bad CRC, bad length)."""


class ReplyError(ProtocolError):
    """A well-formed reply that is not the one expected (wrong type, sequence or size)."""


class LinkTimeout(ProtocolError):
    """No complete reply within the time-out: the device is absent, busy or the link is down."""


class NackError(ProtocolError):
    """The device refused a request. ``reason`` is a :class:`NackReason`, ``request_type`` the
    type byte of the refused frame as the device saw it."""

    reason: NackReason = NackReason.FRAMING

    def __init__(self, request_type: int = 0, seq: int = 0) -> None:
        self.request_type = request_type
        self.seq = seq
        super().__init__(
            f"device refused frame (seq {seq}, type 0x{request_type:02x}): "
            f"{self.reason.name.lower()} — {self.__doc__}"
        )


class NackFraming(NackError):
    """COBS block cut short or UART framing error: the frame was garbled on the line."""
    reason = NackReason.FRAMING


class NackOverflow(NackError):
    """Frame longer than the device's buffer."""
    reason = NackReason.OVERFLOW


class NackShort(NackError):
    """Frame shorter than header plus CRC."""
    reason = NackReason.SHORT


class NackCrc(NackError):
    """CRC-16 mismatch: the frame was corrupted on the line."""
    reason = NackReason.CRC


class NackLength(NackError):
    """Length field does not match the payload received."""
    reason = NackReason.LENGTH


class NackType(NackError):
    """Unknown request type."""
    reason = NackReason.TYPE


class NackClasses(NackError):
    """Payload does not fit the device's number of classes or word width."""
    reason = NackReason.CLASSES


class NackLocked(NackError):
    """The device is locked: CONFIGURE is refused until it is reset."""
    reason = NackReason.LOCKED


class NackNotConfigured(NackError):
    """The device has no parameter set yet: send CONFIGURE first."""
    reason = NackReason.NOT_CONFIGURED


class NackSequence(NackError):
    """VECTORS frame out of sequence: an earlier one was refused or lost, so this one was not
    executed either (PROTOCOL §6)."""
    reason = NackReason.SEQUENCE


_NACK_CLASSES: dict[int, type[NackError]] = {
    c.reason: c
    for c in (NackFraming, NackOverflow, NackShort, NackCrc, NackLength, NackType, NackClasses,
              NackLocked, NackNotConfigured, NackSequence)
}


def nack_error(reason: int, request_type: int = 0, seq: int = 0) -> ProtocolError:
    """The exception for a NACK reason byte (a :class:`ReplyError` for an unknown reason)."""
    cls = _NACK_CLASSES.get(reason)
    if cls is None:
        return ReplyError(f"NACK with unknown reason code 0x{reason:02x}")
    return cls(request_type, seq)


# ---------------------------------------------------------------------------------- CRC, COBS
def _crc16_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ CRC16_POLY) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_CRC_TABLE = _crc16_table()


def crc16(data: bytes, crc: int = CRC16_INIT) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, MSB first, no final XOR); ``crc16(b"123456789")
    == 0x29B1``. Appending the result big-endian makes the CRC of the whole 0."""
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing (Cheshire & Baker): no 0x00 in the result, at most one
    byte of overhead per 254. A run of 254 non-zero bytes that ends the data is not followed by
    an empty block (the variant of the Wikipedia examples; the device's encoder does the same)."""
    out = bytearray()
    start, n = 0, len(data)
    while True:
        end = start
        while end < n and data[end] != 0 and end - start < 254:
            end += 1
        out.append(end - start + 1)
        out += data[start:end]
        if end == n:
            return bytes(out)
        start = end if end - start == 254 else end + 1  # a short block ended at a zero: skip it


def cobs_decode(block: bytes) -> bytes:
    """Inverse of :func:`cobs_encode` for one block (no delimiter). Raises :class:`FramingError`
    for a 0x00 inside the block or a block whose last code points past its end."""
    out, pending, remaining = _cobs_decode_lenient(block)
    if pending is None:
        raise FramingError("COBS block contains a 0x00 byte")
    if remaining:
        raise FramingError("COBS block cut short")
    return out


def _cobs_decode_lenient(block: bytes) -> tuple[bytes, bool | None, int]:
    """Decode as the device does, byte by byte: (decoded bytes, ok, bytes still owed).
    ``ok`` is None when the block holds a 0x00 (not a single frame)."""
    out = bytearray()
    remaining, zero_pending = 0, False
    for b in block:
        if b == 0:
            return bytes(out), None, remaining
        if remaining == 0:
            if zero_pending:
                out.append(0)
            remaining, zero_pending = b - 1, b != 0xFF
        else:
            out.append(b)
            remaining -= 1
    return bytes(out), True, remaining


# ------------------------------------------------------------------------------------- frames
@dataclass(frozen=True)
class Frame:
    """One decoded frame: ``type`` byte, ``seq`` (0–255) and ``payload``."""

    type: int
    seq: int
    payload: bytes

    def __repr__(self) -> str:  # never print payload bytes: a CONFIGURE carries secrets
        name = FrameType(self.type).name if self.type in FrameType._value2member_map_ else "?"
        return f"Frame({name}/0x{self.type:02x}, seq={self.seq}, {len(self.payload)} bytes)"


def frame_bytes(ftype: int, seq: int, payload: bytes) -> bytes:
    """The decoded frame: header, payload and CRC (before COBS)."""
    if not 0 <= len(payload) <= 0xFFFF:
        raise ValueError("payload longer than 65535 bytes")
    body = bytes([ftype & 0xFF, seq & 0xFF]) + len(payload).to_bytes(2, "little") + payload
    return body + crc16(body).to_bytes(2, "big")


def encode_frame(ftype: int, seq: int, payload: bytes = b"") -> bytes:
    """The bytes to put on the line: COBS block of :func:`frame_bytes` and the 0x00 delimiter."""
    return cobs_encode(frame_bytes(ftype, seq, payload)) + b"\x00"


def decode_frame(block: bytes) -> Frame:
    """Parse one received block (delimiter stripped). Raises :class:`FramingError` when the block
    is not a well-formed frame (COBS, size, CRC, length field)."""
    data = cobs_decode(block)
    if len(data) < FRAME_OVERHEAD:
        raise FramingError(f"frame of {len(data)} bytes is shorter than header and CRC")
    if crc16(data) != 0:
        raise FramingError("frame CRC-16 mismatch")
    length = int.from_bytes(data[2:4], "little")
    if length != len(data) - FRAME_OVERHEAD:
        raise FramingError("frame length field does not match its size")
    return Frame(data[0], data[1], bytes(data[4:-2]))


class FrameReader:
    """Splits a byte stream into blocks at 0x00 delimiters; empty blocks (idle fill) vanish.

    ``feed(data)`` returns the complete blocks; bytes after the last delimiter are kept."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        *blocks, rest = self._buf.split(b"\x00")
        self._buf = bytearray(rest)
        return [bytes(b) for b in blocks if b]

    def clear(self) -> None:
        self._buf.clear()


# --------------------------------------------------------------------------- request payloads
def pack_vectors(p: np.ndarray, width: int) -> bytes:
    """Pack integer words [M, N] (W bits each) row-major, ceil(W/8) bytes a word, little-endian."""
    arr = np.asarray(p)
    if arr.ndim != 2:
        raise ValueError("vectors must be a 2-D array [M, N]")
    if arr.size and (arr.min() < 0 or arr.max() >= 1 << width):
        raise ValueError(f"a word does not fit in {width} bits")
    nb = word_bytes(width)
    raw = arr.astype("<u4").reshape(-1, 1).view(np.uint8)[:, :nb]
    return raw.tobytes()


def unpack_vectors(payload: bytes, classes: int, width: int) -> np.ndarray:
    """Inverse of :func:`pack_vectors`: int64 array [M, classes]."""
    nb = word_bytes(width)
    if len(payload) % (classes * nb):
        raise ReplyError("vector payload is not a whole number of vectors")
    raw = np.frombuffer(payload, dtype=np.uint8).reshape(-1, nb)
    words = np.zeros(raw.shape[0], dtype=np.int64)
    for k in range(nb):
        words |= raw[:, k].astype(np.int64) << (8 * k)
    return words.reshape(-1, classes)


def configure_frame(encoded_params: bytes, seq: int) -> bytes:
    """CONFIGURE: the payload is the SPEC §3.2 encoding (``Params.encode()``)."""
    return encode_frame(FrameType.CONFIGURE, seq, encoded_params)


def lock_frame(seq: int) -> bytes:
    return encode_frame(FrameType.LOCK, seq)


def status_frame(seq: int) -> bytes:
    return encode_frame(FrameType.STATUS, seq)


def vectors_frame(p: np.ndarray, width: int, seq: int) -> bytes:
    return encode_frame(FrameType.VECTORS, seq, pack_vectors(p, width))


# ------------------------------------------------------------------------------------ replies
@dataclass(frozen=True)
class Status:
    """The STATUS reply (docs/PROTOCOL.md §5). Counters wrap at 2**32. Nothing here is secret."""

    version: int
    classes: int
    width: int
    configured: bool
    ready: bool
    locked: bool
    cfg_refused: bool
    max_vectors: int
    last_nack: int
    window: int  # frames a host may have unanswered (the device's frame buffers)
    nacks_seen: int  # bit r set once a NACK with reason r was sent
    vseq: int  # seq the next VECTORS frame must carry: VECTORS executed since CONFIGURE, mod 256
    frames_ok: int
    frames_nacked: int
    vectors_in: int
    vectors_out: int
    rejected: int
    rx_dropped: int
    uart_errors: int

    @classmethod
    def parse(cls, payload: bytes) -> Status:
        if len(payload) != STATUS_BYTES:
            raise ReplyError(f"STATUS payload of {len(payload)} bytes, expected {STATUS_BYTES}")
        flags = payload[3]
        words = [int.from_bytes(payload[k:k + 4], "little") for k in range(12, STATUS_BYTES, 4)]
        return cls(payload[0], payload[1], payload[2], bool(flags & 1), bool(flags & 2),
                   bool(flags & 4), bool(flags & 8), int.from_bytes(payload[4:6], "little"),
                   payload[6], payload[7], int.from_bytes(payload[8:10], "little"),
                   payload[10], *words)


def parse_reply(frame: Frame) -> Frame:
    """Raise the matching :class:`NackError` for a NACK; return any other reply unchanged."""
    if frame.type == FrameType.NACK:
        if len(frame.payload) != 2:
            raise ReplyError("NACK with a malformed payload")
        raise nack_error(frame.payload[0], frame.payload[1], frame.seq)
    if frame.type not in (FrameType.ACK, FrameType.VECTORS_REPLY, FrameType.STATUS_REPLY):
        raise ReplyError(f"unexpected reply type 0x{frame.type:02x}")
    return frame


# ------------------------------------------------------------------------ device rules, oracle
def expected_nack(block: bytes, *, classes: int, width: int, max_vectors: int, depth: int,
                  configured: bool, locked: bool, vseq: int | None = None) -> NackReason | None:
    """The device's acceptance rules (docs/PROTOCOL.md §4) for one received block (no delimiter,
    not empty): the NACK reason it answers with, or None when it executes the frame. ``vseq``:
    the device's next VECTORS sequence number (None: any ``seq`` is taken as in sequence)."""
    data, ok, remaining = _cobs_decode_lenient(block)
    if ok is None:
        raise ValueError("a block never contains 0x00")
    if remaining:
        return NackReason.FRAMING
    if len(data) > depth:
        return NackReason.OVERFLOW
    if len(data) < FRAME_OVERHEAD:
        return NackReason.SHORT
    if crc16(data) != 0:
        return NackReason.CRC
    length = int.from_bytes(data[2:4], "little")
    if length != len(data) - FRAME_OVERHEAD:
        return NackReason.LENGTH
    ftype, payload = data[0], data[4:-2]
    if ftype not in (FrameType.CONFIGURE, FrameType.LOCK, FrameType.VECTORS, FrameType.STATUS):
        return NackReason.TYPE
    if ftype == FrameType.CONFIGURE:
        if length != config_bytes(classes) or payload[:8] != params_header(classes, width):
            return NackReason.CLASSES
        return NackReason.LOCKED if locked else None
    if ftype == FrameType.VECTORS:
        vb = classes * word_bytes(width)
        if length == 0 or length % vb or length // vb > max_vectors:
            return NackReason.CLASSES
        if not configured:
            return NackReason.NOT_CONFIGURED
        return None if vseq is None or data[1] == vseq else NackReason.SEQUENCE
    if length:
        return NackReason.CLASSES
    if ftype == FrameType.LOCK and not configured:
        return NackReason.NOT_CONFIGURED
    return None


# ------------------------------------------------------------------------------------ the link
class SerialLike(Protocol):
    def write(self, data: bytes) -> int | None: ...
    def read(self, size: int = 1) -> bytes: ...


#: Port read time-out assumed when the port does not say (pyserial's ``timeout`` attribute).
DEFAULT_POLL = 0.05


class FrameLink:
    """Transactions with a device over a byte port (pyserial ``Serial`` or similar, opened with
    a short read time-out such as 0.05 s, or a fake port in tests).

    ``transact(type, payload)`` sends one frame, waits for its reply and returns it (a NACK raises
    its :class:`NackError`). ``send``/``read_reply`` are the two halves, for pipelining: the
    device answers in order, so replies are matched to requests by order and checked by ``seq``
    (a mismatch is a :class:`ReplyError`). Control frames use ``seq`` 0..255 in turn; VECTORS
    frames carry the device's VECTORS sequence (``vseq``: 0 after CONFIGURE, +1 for each frame
    executed, PROTOCOL §6), which the link tracks. On construction a lone 0x00 is sent so that
    any partial frame left in the device's receiver is closed (the device ignores empty frames).

    Time-out: a read raises :class:`LinkTimeout` after ``timeout`` seconds of silence, counted
    as ``ceil(timeout / port.timeout)`` consecutive empty reads (a pyserial read returns empty
    after its own time-out), so nothing here reads the host's clock.

    Retrying is the caller's choice: a NACKed frame was not executed and may be sent again; after
    a :class:`LinkTimeout` on VECTORS, read :meth:`status` — ``vseq`` and ``vectors_out`` tell
    whether the device processed the frame (re-sending it would otherwise consume keystream
    twice).
    """

    def __init__(self, port: SerialLike, *, timeout: float = 5.0) -> None:
        self.port = port
        self.timeout = timeout
        self.seq = 0
        self.vseq = 0
        self._reader = FrameReader()
        self._pending: list[bytes] = []
        self.port.write(b"\x00")

    def _empty_reads(self, timeout: float) -> int:
        poll = getattr(self.port, "timeout", None) or DEFAULT_POLL
        return max(1, math.ceil(timeout / poll))

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (tests use it for corrupted frames)."""
        self.port.write(data)

    def poll_blocks(self) -> list[bytes]:
        """Whatever complete blocks have arrived, without waiting beyond one port read."""
        waiting = getattr(self.port, "in_waiting", 0)
        if waiting:
            self._pending += self._reader.feed(self.port.read(waiting))
        out, self._pending = self._pending, []
        return out

    def read_block(self, timeout: float | None = None) -> bytes:
        """The next received block (delimiter stripped); :class:`LinkTimeout` if none arrives."""
        timeout = self.timeout if timeout is None else timeout
        left = self._empty_reads(timeout)
        while not self._pending:
            # read(1) returns as soon as a byte is there; then take whatever else is waiting
            chunk = self.port.read(1)
            waiting = getattr(self.port, "in_waiting", 0)
            if chunk and waiting:
                chunk += self.port.read(waiting)
            if chunk:
                self._pending += self._reader.feed(chunk)
                left = self._empty_reads(timeout)
            else:
                left -= 1
                if left <= 0:
                    raise LinkTimeout(f"no reply from the device within {timeout:.1f} s")
        return self._pending.pop(0)

    def read_frame(self, timeout: float | None = None) -> Frame:
        return decode_frame(self.read_block(timeout))

    def send(self, ftype: int, payload: bytes = b"", seq: int | None = None) -> int:
        """Send one frame (``seq`` default: the next control sequence number); return its seq."""
        if seq is None:
            seq = self.seq
            self.seq = (self.seq + 1) & 0xFF
        self.port.write(encode_frame(ftype, seq, payload))
        return seq

    def read_reply(self, seq: int) -> Frame:
        """The next reply, which must answer ``seq``; a NACK raises its :class:`NackError`."""
        reply = self.read_frame()
        if reply.seq != seq:
            raise ReplyError(f"reply for seq {reply.seq}, expected {seq}")
        return parse_reply(reply)

    def transact(self, ftype: int, payload: bytes = b"") -> Frame:
        return self.read_reply(self.send(ftype, payload))

    def configure(self, encoded_params: bytes) -> None:
        self._expect(self.transact(FrameType.CONFIGURE, encoded_params), FrameType.ACK)
        self.vseq = 0

    def lock(self) -> None:
        self._expect(self.transact(FrameType.LOCK), FrameType.ACK)

    def status(self) -> Status:
        reply = self._expect(self.transact(FrameType.STATUS), FrameType.STATUS_REPLY)
        return Status.parse(reply.payload)

    def send_vectors(self, chunk: np.ndarray, width: int) -> int:
        """Send one VECTORS frame with the next VECTORS sequence number; return that number."""
        seq = self.send(FrameType.VECTORS, pack_vectors(chunk, width), seq=self.vseq)
        self.vseq = (self.vseq + 1) & 0xFF
        return seq

    def read_vectors(self, seq: int, classes: int, width: int, count: int) -> np.ndarray:
        """The VECTORS_REPLY to ``seq``: ``count`` vectors [count, classes]."""
        reply = self._expect(self.read_reply(seq), FrameType.VECTORS_REPLY)
        got = unpack_vectors(reply.payload, classes, width)
        if got.shape[0] != count:
            raise ReplyError(f"{got.shape[0]} vectors back for {count} sent")
        return got

    def process(self, p: np.ndarray, classes: int, width: int, max_vectors: int,
                window: int = 1) -> np.ndarray:
        """Send the vectors [M, N] in frames of at most ``max_vectors``, up to ``window`` frames
        unanswered at a time; return the altered vectors. The first NACK or bad reply raises
        (this link does not retry; the serial backend does)."""
        arr = np.asarray(p)
        chunks = [arr[s:s + max_vectors] for s in range(0, arr.shape[0], max_vectors)]
        out: list[np.ndarray] = []
        inflight: list[tuple[int, int]] = []  # (seq, vectors)
        for chunk in chunks:
            if len(inflight) == max(1, window):
                seq, count = inflight.pop(0)
                out.append(self.read_vectors(seq, classes, width, count))
            inflight.append((self.send_vectors(chunk, width), len(chunk)))
        for seq, count in inflight:
            out.append(self.read_vectors(seq, classes, width, count))
        return np.concatenate(out) if out else np.zeros((0, classes), dtype=np.int64)

    @staticmethod
    def _expect(frame: Frame, ftype: FrameType) -> Frame:
        if frame.type != ftype:
            raise ReplyError(f"expected {ftype.name}, got 0x{frame.type:02x}")
        if ftype == FrameType.ACK and len(frame.payload) != 1:
            raise ReplyError("ACK with a malformed payload")
        return frame
