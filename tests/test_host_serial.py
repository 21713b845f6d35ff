"""The serial backend against a scripted device, through a fake port (no pty, no clock).

``FakeDevice`` speaks docs/PROTOCOL.md (version 2): it accepts or NACKs every block by
``protocol.expected_nack`` (the device's acceptance rules, with its VECTORS sequence number),
computes with the reference unit, advertises a window of ``WINDOW`` frames, and can inject
faults: corrupted requests (line noise -> NACK CRC), a request lost on the line, a reply lost
after processing, garbage, silence, a pre-locked device. ``FakePort`` hands it to the backend
in-process (``port_factory``): a write is answered at once, and a read with nothing to read
returns empty, which is how a pyserial read time-out looks, so every time-out here is a count
of empty reads and no test waits on the host's clock. ``FakeBoard`` serves the same device on
a pseudo-terminal for the tests that need a port path (the CLI's).
Oracle for the outputs: SPEC §6–§9 computed directly (``alter`` + one Trivium stream).
The same backend against the Verilator simulated board is in test_host_backends.py.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from collections import deque

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
from dynamarks.host.reference import ReferenceUnit
from dynamarks.wire import PROTOCOL_VERSION, STATUS_BYTES, FrameType, buffer_depth
from tests import known_answers as kat
from tests.spec_model import expected_outputs
from tests.strategies import random_vectors

MAX_VECTORS = 7
WINDOW = 3
TIMEOUT = 1.0


class FakeDevice:
    """A protocol-level stand-in for the board (see the module docstring)."""

    def __init__(self, classes: int = 10, width: int = 16, locked: bool = False) -> None:
        self.classes, self.width = classes, width
        self.depth = buffer_depth(classes, width, MAX_VECTORS)
        self.unit: ReferenceUnit | None = None
        self.locked = locked
        self.configured = locked
        self.vseq = 0
        self.version = PROTOCOL_VERSION
        self.vectors_in = self.vectors_out = 0
        self.faults: list[str] = []  # consumed one per request: corrupt, drop_request,
        # drop_reply, garbage; "silent" and "garbage_all" stay

    def status_payload(self) -> bytes:
        """The STATUS payload, laid out by hand from PROTOCOL §5 (and read back as a check)."""
        flags = self.configured | (self.configured << 1) | (self.locked << 2)
        head = bytes([self.version, self.classes, self.width, flags])
        head += MAX_VECTORS.to_bytes(2, "little") + bytes([0, WINDOW, 0, 0, self.vseq, 0])
        words = [0, 0, self.vectors_in, self.vectors_out, 0, 0, 0]
        payload = head + b"".join(w.to_bytes(4, "little") for w in words)
        assert len(payload) == STATUS_BYTES
        st = pr.Status.parse(payload)
        assert (st.classes, st.max_vectors, st.locked, st.vectors_out, st.window, st.vseq) == (
            self.classes, MAX_VECTORS, self.locked, self.vectors_out, WINDOW, self.vseq)
        return payload

    def handle(self, block: bytes) -> bytes | None:
        """The reply to one received block (None: no reply)."""
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
                                  configured=self.configured, locked=self.locked,
                                  vseq=self.vseq)
        data, _, _ = pr._cobs_decode_lenient(block)
        seq = data[1] if len(data) > 1 else 0
        if reason is not None:
            ftype = data[0] if data else 0
            return pr.encode_frame(FrameType.NACK, seq, bytes([reason, ftype]))
        frame = pr.decode_frame(block)
        if frame.type == FrameType.STATUS:
            return pr.encode_frame(FrameType.STATUS_REPLY, seq, self.status_payload())
        if frame.type == FrameType.CONFIGURE:
            self.unit = ReferenceUnit(Params.decode(frame.payload))
            self.configured = True
            self.vseq = 0
            self.vectors_in = self.vectors_out = 0
            return pr.encode_frame(FrameType.ACK, seq, bytes([frame.type]))
        if frame.type == FrameType.LOCK:
            self.locked = True
            return pr.encode_frame(FrameType.ACK, seq, bytes([frame.type]))
        p = pr.unpack_vectors(frame.payload, self.classes, self.width)
        self.vectors_in += len(p)
        out = self.unit.process(p)
        self.vectors_out += len(p)
        self.vseq = (self.vseq + 1) & 0xFF
        if fault == "drop_reply":
            return None
        return pr.encode_frame(FrameType.VECTORS_REPLY, seq, pr.pack_vectors(out, self.width))


class FakePort:
    """The device behind a pyserial-like port, in-process. ``max_unread``: the most replies that
    were waiting unread when a request came (a host that keeps the window never exceeds it)."""

    timeout = 0.05  # what a read that returns empty stands for (the link counts these)

    def __init__(self, device: FakeDevice) -> None:
        self.device = device
        self._reader = pr.FrameReader()
        self._out = bytearray()
        self._unread: deque[int] = deque()  # bytes left of each reply not yet read
        self.max_unread = 0
        self.closed = False

    @property
    def in_waiting(self) -> int:
        return len(self._out)

    def write(self, data: bytes) -> int:
        for block in self._reader.feed(data):
            self.max_unread = max(self.max_unread, len(self._unread) + 1)
            reply = self.device.handle(block)
            if reply:
                self._out += reply
                self._unread.append(len(reply))
        return len(data)

    def read(self, size: int = 1) -> bytes:
        got = bytes(self._out[:size])
        del self._out[:size]
        left = len(got)
        while left and self._unread:
            take = min(left, self._unread[0])
            self._unread[0] -= take
            left -= take
            if not self._unread[0]:
                self._unread.popleft()
        return got

    def close(self) -> None:
        self.closed = True


class FakeBoard:
    """``FakeDevice`` on the master side of a pty (``.port`` is the slave's path), for tests
    that must name a port (the CLI's); device attributes (``faults``, ``locked`` …) pass
    through."""

    def __init__(self, classes: int = 10, width: int = 16, locked: bool = False) -> None:
        self.__dict__["device"] = FakeDevice(classes, width, locked)
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self._slave = slave
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def __getattr__(self, name):
        return getattr(self.__dict__["device"], name)

    def __setattr__(self, name, value):
        if name in ("faults", "locked", "configured"):
            setattr(self.device, name, value)
        else:
            self.__dict__[name] = value

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        os.close(self.master)
        os.close(self._slave)

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
                reply = self.device.handle(block)
                if reply:
                    os.write(self.master, reply)


@pytest.fixture
def board():
    return FakeDevice()


@pytest.fixture
def params():
    return keygen(classes=10, seed=21)


def expected(params, p):
    """The oracle: the independent SPEC model of tests/spec_model.py (own Trivium and
    arithmetic), not the reference the fake device computes with."""
    return expected_outputs(params, p)


def opened(device, params, ports: list | None = None, **kw):
    def factory(port: str, baudrate: int) -> FakePort:
        fake = FakePort(device)
        if ports is not None:
            ports.append(fake)
        return fake

    return open_backend("serial", params, port="fake0", timeout=TIMEOUT, port_factory=factory,
                        **kw)


def test_vectors_match_the_spec_and_device_locks(board, params):
    p = random_vectors(np.random.default_rng(0), 100, params)
    ports: list[FakePort] = []
    with opened(board, params, ports) as be:
        assert board.locked and be.frame_vectors == MAX_VECTORS and be.window == WINDOW
        got = np.concatenate([be.process(p[:33]), be.process(p[33:])])
        assert be.position == 100 and be.status().vectors_out == 100
    np.testing.assert_array_equal(got, expected(params, p))
    assert (got != p).any(axis=1).sum() > 10
    # pipelined: a whole window of frames went out before a reply was read, never more
    assert ports[0].max_unread == WINDOW and ports[0].closed


def test_known_answers_through_the_serial_backend():
    """The committed SPEC known-answer table (eSTREAM key/IV), through the wire protocol."""
    with opened(FakeDevice(), kat.params()) as be:
        assert be.process(np.array(kat.VECTORS)).tolist() == kat.OUTPUTS


def test_nack_from_line_noise_is_retried(board, params):
    p = random_vectors(np.random.default_rng(1), 20, params)
    with opened(board, params, lock=False) as be:
        board.faults = ["corrupt", "corrupt"]
        got = be.process(p)
        assert be.nacks_retried == 2
    np.testing.assert_array_equal(got, expected(params, p))


def test_frames_behind_a_refused_one_wait_for_it(board, params):
    """A frame in the middle of a window is damaged: the device refuses the frames behind it
    (SEQUENCE), and the backend resends from it, so the keystream order is kept."""
    p = random_vectors(np.random.default_rng(5), 5 * MAX_VECTORS, params)
    with opened(board, params) as be:
        board.faults = [None, "corrupt"]
        got = be.process(p)
        assert be.nacks_retried == 1 and board.vseq == 5
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


def test_device_that_stops_answering(board, params):
    with opened(board, params) as be:
        board.faults = ["silent"]
        with pytest.raises(DeviceNotFound, match="stopped answering"):
            be.process(random_vectors(np.random.default_rng(6), 3, params))


def test_garbage(board, params):
    board.faults = ["garbage_all"]
    with pytest.raises(DeviceProtocolError, match="garbage"):
        opened(board, params, retries=1)


def test_already_locked_device(params):
    device = FakeDevice(locked=True)
    with pytest.raises(DeviceLockedError, match="locked"):
        opened(device, params)
    device.locked = False  # as if reset: now it accepts the set
    device.configured = False
    with opened(device, params) as be:
        p = random_vectors(np.random.default_rng(4), 5, params)
        np.testing.assert_array_equal(be.process(p), expected(params, p))
    # locked now: a second host with other parameters is refused
    with pytest.raises(DeviceLockedError):
        opened(device, keygen(classes=10, seed=99))


def test_device_for_other_classes(params):
    with pytest.raises(BackendError, match="N=4"):
        opened(FakeDevice(classes=4), params)


def test_device_of_another_protocol_version(board, params):
    board.version = 1  # a bitstream of the stop-and-wait protocol
    with pytest.raises(DeviceProtocolError, match="protocol version 1"):
        opened(board, params)


def test_fake_board_on_a_pty_answers(params):
    """The pty wrapper other tests use (the CLI's) serves the same device."""
    import serial

    board = FakeBoard()
    try:
        with serial.Serial(board.port, 3_000_000, timeout=0.05) as ser:
            st = pr.FrameLink(ser, timeout=10.0).status()
        assert (st.version, st.window, st.max_vectors) == (PROTOCOL_VERSION, WINDOW, MAX_VECTORS)
    finally:
        board.close()
