"""The serial backend against a scripted device on a pseudo-terminal.

``FakeBoard`` speaks docs/PROTOCOL.md on the master side of a pty: it accepts or NACKs every
block by ``protocol.expected_nack`` (the device's acceptance rules), computes with the
reference unit, and can inject faults: corrupted requests (line noise -> NACK CRC), a request
lost on the line, a reply lost after processing, garbage, silence, a pre-locked device.
The backend is the pyserial client on the pty's slave side, exactly as with a board.
Oracle for the outputs: SPEC §6–§9 computed directly (``alter`` + one Trivium stream).
The same backend against the Verilator simulated board is in test_host_backends.py.
"""

from __future__ import annotations

import os
import select
import threading
import tty

import numpy as np
import pytest

from dynamarks.host import protocol as pr
from dynamarks.host.driver import (
    BackendError,
    DeviceLockedError,
    DeviceNotFound,
    DeviceProtocolError,
    open_backend,
)
from dynamarks.host.params import Params, keygen
from dynamarks.host.reference import ReferenceUnit, alter
from dynamarks.host.trivium import Trivium
from dynamarks.rtl.wire import STATUS_BYTES, FrameType, buffer_depth
from tests.strategies import random_vectors

MAX_VECTORS = 7
TIMEOUT = 1.0


class FakeBoard:
    """A protocol-level stand-in for the board (see the module docstring)."""

    def __init__(self, classes: int = 10, width: int = 16, locked: bool = False) -> None:
        self.classes, self.width = classes, width
        self.depth = buffer_depth(classes, width, MAX_VECTORS)
        self.unit: ReferenceUnit | None = None
        self.locked = locked
        self.configured = locked
        self.vectors_in = self.vectors_out = 0
        self.faults: list[str] = []  # consumed one per request: corrupt, drop_request,
        # drop_reply, garbage; "silent" and "garbage_all" stay
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self._slave = slave
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        os.close(self.master)
        os.close(self._slave)

    # ---- device behaviour ------------------------------------------------------------------

    def _status_payload(self) -> bytes:
        """The STATUS payload in the layout ``protocol.Status.parse`` reads (checked)."""
        flags = self.configured | (self.configured << 1) | (self.locked << 2)
        head = bytes([1, self.classes, self.width, flags]) + MAX_VECTORS.to_bytes(2, "little")
        words = [0, 0, self.vectors_in, self.vectors_out, 0, 0, 0]
        tail = b"".join(w.to_bytes(4, "little") for w in words)
        payload = head + bytes(STATUS_BYTES - len(head) - len(tail)) + tail
        st = pr.Status.parse(payload)
        assert (st.classes, st.max_vectors, st.locked, st.vectors_out) == (
            self.classes, MAX_VECTORS, self.locked, self.vectors_out)
        return payload

    def _handle(self, block: bytes) -> bytes | None:
        fault = self.faults.pop(0) if self.faults and self.faults[0] not in (
            "silent", "garbage_all") else (self.faults[0] if self.faults else None)
        if fault == "silent" or fault == "drop_request":
            return None
        if fault in ("garbage", "garbage_all"):
            return b"\x17\x42\x99\x00"
        if fault == "corrupt":
            block = block[:-1] + bytes([block[-1] ^ 0x5A or 1])
        reason = pr.expected_nack(block, classes=self.classes, width=self.width,
                                  max_vectors=MAX_VECTORS, depth=self.depth,
                                  configured=self.configured, locked=self.locked)
        data, _, _ = pr._cobs_decode_lenient(block)
        seq = data[1] if len(data) > 1 else 0
        if reason is not None:
            ftype = data[0] if data else 0
            return pr.encode_frame(FrameType.NACK, seq, bytes([reason, ftype]))
        frame = pr.decode_frame(block)
        if frame.type == FrameType.STATUS:
            return pr.encode_frame(FrameType.STATUS_REPLY, seq, self._status_payload())
        if frame.type == FrameType.CONFIGURE:
            self.unit = ReferenceUnit(Params.decode(frame.payload))
            self.configured = True
            self.vectors_in = self.vectors_out = 0
            return pr.encode_frame(FrameType.ACK, seq, bytes([frame.type]))
        if frame.type == FrameType.LOCK:
            self.locked = True
            return pr.encode_frame(FrameType.ACK, seq, bytes([frame.type]))
        p = pr.unpack_vectors(frame.payload, self.classes, self.width)
        self.vectors_in += len(p)
        out = self.unit.process(p)
        self.vectors_out += len(p)
        if fault == "drop_reply":
            return None
        return pr.encode_frame(FrameType.VECTORS_REPLY, seq, pr.pack_vectors(out, self.width))

    def _serve(self) -> None:
        reader = pr.FrameReader()
        while not self._stop:
            ready, _, _ = select.select([self.master], [], [], 0.02)
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            for block in reader.feed(data):
                reply = self._handle(block)
                if reply:
                    os.write(self.master, reply)


@pytest.fixture
def board():
    b = FakeBoard()
    yield b
    b.close()


@pytest.fixture
def params():
    return keygen(classes=10, seed=21)


def expected(params, p):
    words = np.frombuffer(Trivium(params.key, params.iv).keystream(4 * len(p)), dtype="<u4")
    return alter(params, p, words).out


def opened(board, params, **kw):
    return open_backend("serial", params, port=board.port, timeout=TIMEOUT, **kw)


def test_vectors_match_the_spec_and_device_locks(board, params):
    p = random_vectors(np.random.default_rng(0), 100, params)
    with opened(board, params) as be:
        assert board.locked and be.frame_vectors == MAX_VECTORS
        got = np.concatenate([be.process(p[:33]), be.process(p[33:])])
        assert be.position == 100 and be.status().vectors_out == 100
    np.testing.assert_array_equal(got, expected(params, p))
    assert (got != p).any(axis=1).sum() > 10


def test_nack_from_line_noise_is_retried(board, params):
    p = random_vectors(np.random.default_rng(1), 20, params)
    with opened(board, params, lock=False) as be:
        board.faults = ["corrupt", "corrupt"]
        got = be.process(p)
        assert be.nacks_retried == 2
    np.testing.assert_array_equal(got, expected(params, p))


def test_lost_request_is_resent_but_lost_reply_is_an_error(board, params):
    p = random_vectors(np.random.default_rng(2), 20, params)
    with opened(board, params) as be:
        board.faults = ["drop_request"]
        np.testing.assert_array_equal(be.process(p[:10]), expected(params, p)[:10])
        board.faults = ["drop_reply"]
        with pytest.raises(BackendError, match="reply was lost"):
            be.process(p[10:])


def test_too_many_nacks_give_up(board, params):
    with opened(board, params, retries=1) as be:
        board.faults = ["corrupt"] * 3
        with pytest.raises(DeviceProtocolError, match="failed 2 times"):
            be.process(random_vectors(np.random.default_rng(3), 3, params))


def test_absent_device(params, tmp_path):
    with pytest.raises(DeviceNotFound, match="cannot open serial port"):
        open_backend("serial", params, port=str(tmp_path / "ttyNOPE"))


def test_silent_device(board, params):
    board.faults = ["silent"]
    with pytest.raises(DeviceNotFound, match="nothing answers"):
        opened(board, params)


def test_garbage(board, params):
    board.faults = ["garbage_all"]
    with pytest.raises(DeviceProtocolError, match="garbage"):
        opened(board, params, retries=1)


def test_already_locked_device(params):
    board = FakeBoard(locked=True)
    try:
        with pytest.raises(DeviceLockedError, match="locked"):
            opened(board, params)
        board.locked = False  # as if reset: now it accepts the set
        board.configured = False
        with opened(board, params) as be:
            p = random_vectors(np.random.default_rng(4), 5, params)
            np.testing.assert_array_equal(be.process(p), expected(params, p))
        # locked now: a second host with other parameters is refused
        with pytest.raises(DeviceLockedError):
            opened(board, keygen(classes=10, seed=99))
    finally:
        board.close()


def test_device_for_other_classes(params):
    board = FakeBoard(classes=4)
    try:
        with pytest.raises(BackendError, match="N=4"):
            opened(board, params)
    finally:
        board.close()
