"""The host frame codec (dynamarks.host.protocol) against published values and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamarks.host import protocol as pr
from dynamarks.host.errors import DynamarksError
from dynamarks.wire import (
    FRAME_OVERHEAD,
    STATUS_BYTES,
    FrameType,
    NackReason,
    buffer_depth,
    config_bytes,
    line_bytes_per_frame,
    max_vectors_per_frame,
    vectors_per_second,
)


def test_crc16_ccitt_false_check_value():
    # The catalogue check value of CRC-16/CCITT-FALSE (a.k.a. CRC-16/IBM-3740).
    assert pr.crc16(b"123456789") == 0x29B1
    assert pr.crc16(b"") == 0xFFFF


@given(st.binary(max_size=300))
def test_crc16_residue_is_zero(data):
    assert pr.crc16(data + pr.crc16(data).to_bytes(2, "big")) == 0


# The worked examples of the COBS article (Cheshire & Baker's encoding), delimiter removed.
_RUN = bytes(range(1, 255))  # 01 .. FE
COBS_EXAMPLES = [
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (_RUN, b"\xff" + _RUN),
    (b"\x00" + _RUN, b"\x01\xff" + _RUN),
    (_RUN + b"\xff", b"\xff" + _RUN + b"\x02\xff"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"),
]


@pytest.mark.parametrize("raw,encoded", COBS_EXAMPLES)
def test_cobs_published_examples(raw, encoded):
    assert pr.cobs_encode(raw) == encoded
    assert pr.cobs_decode(encoded) == raw


@given(st.binary(max_size=1200))
@settings(max_examples=300)
def test_cobs_round_trip_and_overhead(data):
    enc = pr.cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + len(data) // 254 + 1
    assert pr.cobs_decode(enc) == data


def test_cobs_decode_refuses_bad_blocks():
    with pytest.raises(pr.FramingError):
        pr.cobs_decode(b"\x03\x11")  # block promises two bytes, has one
    with pytest.raises(pr.FramingError):
        pr.cobs_decode(b"\x02\x00\x11")  # a delimiter inside


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=700))
def test_frame_round_trip(ftype, seq, payload):
    wire = pr.encode_frame(ftype, seq, payload)
    assert wire.endswith(b"\x00") and wire.count(0) == 1
    raw = pr.cobs_decode(wire[:-1])
    assert len(raw) == len(payload) + FRAME_OVERHEAD
    assert raw[2:4] == len(payload).to_bytes(2, "little")
    f = pr.decode_frame(wire[:-1])
    assert (f.type, f.seq, f.payload) == (ftype, seq, payload)


def test_decode_frame_refuses_damage():
    good = pr.encode_frame(FrameType.STATUS, 3, b"abc")[:-1]
    raw = bytearray(pr.cobs_decode(good))
    flipped = bytearray(raw)
    flipped[4] ^= 0x10
    with pytest.raises(pr.FramingError, match="CRC"):
        pr.decode_frame(pr.cobs_encode(bytes(flipped)))
    with pytest.raises(pr.FramingError, match="shorter"):
        pr.decode_frame(pr.cobs_encode(bytes(raw[:5])))
    bad_len = bytearray(raw[:-2])
    bad_len[2] = 7
    bad_len += pr.crc16(bytes(bad_len)).to_bytes(2, "big")
    with pytest.raises(pr.FramingError, match="length"):
        pr.decode_frame(pr.cobs_encode(bytes(bad_len)))


def test_frame_repr_hides_payload():
    f = pr.Frame(FrameType.CONFIGURE, 1, b"SECRETSECRET")
    assert "SECRET" not in repr(f) and "CONFIGURE" in repr(f)


@pytest.mark.parametrize("width", [10, 16, 17, 24])
def test_pack_unpack_vectors(width):
    rng = np.random.default_rng(width)
    p = rng.integers(0, 1 << width, size=(9, 7))
    payload = pr.pack_vectors(p, width)
    nb = (width + 7) // 8
    assert len(payload) == p.size * nb
    # little-endian words in row-major order
    assert int.from_bytes(payload[nb:2 * nb], "little") == p[0, 1]
    assert (pr.unpack_vectors(payload, 7, width) == p).all()
    with pytest.raises(ValueError):
        pr.pack_vectors(np.full((1, 7), 1 << width), width)
    with pytest.raises(pr.ReplyError):
        pr.unpack_vectors(payload[:-1], 7, width)


def test_status_parse():
    counters = [11, 22, 33, 44, 55, 66, 77]
    # PROTOCOL §5, byte by byte: version, N, W, flags, max_vectors (2), last NACK, window,
    # NACKs seen (2), vseq, reserved, then the seven counters
    payload = (bytes([2, 10, 16, 0b1011]) + (50).to_bytes(2, "little") + bytes([5, 4])
               + (0x0230).to_bytes(2, "little") + bytes([0x21, 0])
               + b"".join(c.to_bytes(4, "little") for c in counters))
    assert len(payload) == STATUS_BYTES
    s = pr.Status.parse(payload)
    assert (s.version, s.classes, s.width, s.max_vectors, s.last_nack) == (2, 10, 16, 50, 5)
    assert (s.window, s.vseq) == (4, 0x21)
    assert (s.configured, s.ready, s.locked, s.cfg_refused) == (True, True, False, True)
    assert s.nacks_seen == 0x0230
    assert (s.frames_ok, s.frames_nacked, s.vectors_in, s.vectors_out, s.rejected,
            s.rx_dropped, s.uart_errors) == tuple(counters)
    with pytest.raises(pr.ReplyError):
        pr.Status.parse(payload[:-1])


@pytest.mark.parametrize("reason", list(NackReason))
def test_nack_becomes_typed_exception(reason):
    frame = pr.Frame(FrameType.NACK, 9, bytes([reason, FrameType.VECTORS]))
    with pytest.raises(pr.NackError) as info:
        pr.parse_reply(frame)
    assert info.value.reason == reason
    assert (info.value.request_type, info.value.seq) == (FrameType.VECTORS, 9)
    assert isinstance(info.value, DynamarksError)
    assert type(pr.nack_error(reason)).reason == reason


def test_parse_reply_passes_replies_and_refuses_others():
    ack = pr.Frame(FrameType.ACK, 0, b"\x01")
    assert pr.parse_reply(ack) is ack
    with pytest.raises(pr.ReplyError):
        pr.parse_reply(pr.Frame(FrameType.VECTORS, 0, b""))  # a request is not a reply
    with pytest.raises(pr.ReplyError):
        pr.parse_reply(pr.Frame(FrameType.NACK, 0, bytes([0x7E, 0])))


def test_frame_reader_splits_at_delimiters():
    r = pr.FrameReader()
    assert r.feed(b"\x00\x00\x02a") == []
    assert r.feed(b"\x00\x03bc\x00\x00\x01") == [b"\x02a", b"\x03bc"]
    assert r.feed(b"\x00") == [b"\x01"]


def test_sizing_rules():
    # N=10, W=16: CONFIGURE is 592 bytes (SPEC §3.2), so the buffer is 1,024 bytes.
    assert config_bytes(10) == 592
    assert buffer_depth(10, 16) == 1024
    assert max_vectors_per_frame(10, 16) == (1024 - 6) // 20 == 50
    assert buffer_depth(10, 16, max_vectors=100) == 2048


class TestExpectedNack:
    """The device's acceptance rules, each checked on a frame built to break exactly one."""

    KW = dict(classes=10, width=16, max_vectors=50, depth=1024, configured=True, locked=False)

    def block(self, ftype, payload=b"", seq=0):
        return pr.encode_frame(ftype, seq, payload)[:-1]

    def test_valid_frames(self, params10):
        vec = pr.pack_vectors(np.zeros((3, 10), dtype=int), 16)
        assert pr.expected_nack(self.block(FrameType.VECTORS, vec), **self.KW) is None
        assert pr.expected_nack(self.block(FrameType.STATUS), **self.KW) is None
        assert pr.expected_nack(self.block(FrameType.LOCK), **self.KW) is None
        assert pr.expected_nack(self.block(FrameType.CONFIGURE, params10.encode()),
                                **self.KW) is None

    def test_each_rule(self, params10):
        kw = self.KW
        vec = pr.pack_vectors(np.full((2, 10), 0x0302), 16)
        blk = self.block(FrameType.VECTORS, vec)  # one COBS block: cutting it is a framing error
        assert pr.expected_nack(blk[:-3], **kw) == NackReason.FRAMING
        assert pr.expected_nack(pr.cobs_encode(bytes(1100)), **kw) == NackReason.OVERFLOW
        assert pr.expected_nack(b"\x04\x01\x02\x03", **kw) == NackReason.SHORT
        raw = bytearray(pr.cobs_decode(blk))
        raw[7] ^= 1
        assert pr.expected_nack(pr.cobs_encode(bytes(raw)), **kw) == NackReason.CRC
        body = bytearray(pr.cobs_decode(blk)[:-2])
        body[2] += 1
        body += pr.crc16(bytes(body)).to_bytes(2, "big")
        assert pr.expected_nack(pr.cobs_encode(bytes(body)), **kw) == NackReason.LENGTH
        assert pr.expected_nack(self.block(0x42), **kw) == NackReason.TYPE
        assert pr.expected_nack(self.block(FrameType.VECTORS, vec[:-2]), **kw) == NackReason.CLASSES
        assert pr.expected_nack(self.block(FrameType.VECTORS), **kw) == NackReason.CLASSES
        too_many = pr.pack_vectors(np.zeros((51, 10), dtype=int), 16)
        assert pr.expected_nack(self.block(FrameType.VECTORS, too_many),
                                **{**kw, "depth": 2048}) == NackReason.CLASSES
        assert pr.expected_nack(self.block(FrameType.STATUS, b"x"), **kw) == NackReason.CLASSES
        enc = params10.encode()
        assert pr.expected_nack(self.block(FrameType.CONFIGURE, enc),
                                **{**kw, "classes": 9}) == NackReason.CLASSES
        assert pr.expected_nack(self.block(FrameType.CONFIGURE, enc),
                                **{**kw, "locked": True}) == NackReason.LOCKED
        unconf = {**kw, "configured": False}
        assert pr.expected_nack(blk, **unconf) == NackReason.NOT_CONFIGURED
        assert pr.expected_nack(self.block(FrameType.LOCK), **unconf) == NackReason.NOT_CONFIGURED
        assert pr.expected_nack(self.block(FrameType.STATUS), **unconf) is None
        # VECTORS must carry the device's next VECTORS sequence number; checked last
        in_seq = self.block(FrameType.VECTORS, vec, seq=7)
        assert pr.expected_nack(in_seq, **kw, vseq=7) is None
        assert pr.expected_nack(in_seq, **kw, vseq=6) == NackReason.SEQUENCE
        assert pr.expected_nack(in_seq, **unconf, vseq=6) == NackReason.NOT_CONFIGURED
        assert pr.expected_nack(self.block(FrameType.STATUS, seq=9), **kw, vseq=6) is None


def test_line_rate_figures():
    # PROTOCOL §7 by hand: 50 vectors of 10 two-byte words = 1,000 payload bytes; with header
    # and CRC 1,006; COBS adds a code byte per started 254-byte run (4), plus the delimiter:
    # 1,011 bytes a frame, 10,110 bits at 8N1. At 3 Mbaud: 296.7 frames/s, 14,837 vectors/s.
    assert line_bytes_per_frame(1000) == 1006 + 4 + 1
    worst = pr.encode_frame(FrameType.VECTORS, 1, bytes(range(1, 201)) * 5)  # no zero to save
    assert len(worst) == line_bytes_per_frame(1000)
    assert vectors_per_second(3_000_000, 10, 16, 50) == pytest.approx(3e6 / 10 / 1011 * 50)
    assert vectors_per_second(3_000_000, 10, 16, 50) > 10_000


@pytest.fixture
def params10():
    from dynamarks.host.params import keygen

    return keygen(classes=10, width=16, seed=7)
