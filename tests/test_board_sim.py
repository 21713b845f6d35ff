"""The simulated board (BoardTop under Verilator on a pty) through pyserial, as a host sees it.

Oracles: the bit-exact reference (``ReferenceUnit``) for every vector that comes back, and the
device's acceptance rules (``protocol.expected_nack``, written from docs/PROTOCOL.md §4) for
every frame that must be refused. The fuzzing frames are generated so that each is one COBS
block (no 0x00 inside), sent one at a time; the vectors go pipelined, a window at a time.
Whether a reply is still to come is decided in simulated time (the harness reports when it is
idle with everything answered), never by waiting on the host's clock.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys

import numpy as np
import pytest

from dynamarks.host import protocol as pr
from dynamarks.host.fixedpoint import to_fixed
from dynamarks.host.params import keygen
from dynamarks.host.reference import ReferenceUnit
from dynamarks.sim import toolchain
from dynamarks.wire import PROTOCOL_VERSION, FrameType, NackReason

serial = pytest.importorskip("serial")

pytestmark = [pytest.mark.sim, pytest.mark.slow]

N, W = 10, 16


@pytest.fixture(scope="module")
def board_verilog() -> str:
    """The design, generated once for all tests here (the compiled simulation is cached)."""
    try:
        toolchain.require("verilator")
    except toolchain.ToolchainError as exc:
        pytest.skip(f"Verilator is not available: {exc}")
    from dynamarks.sim.board_sim import board_verilog

    return board_verilog(N, W)


@pytest.fixture
def board(board_verilog):
    """A fresh simulated board: a new process, so a device just out of reset."""
    from dynamarks.sim.board_sim import SimulatedBoard

    sim = SimulatedBoard(classes=N, width=W, verilog=board_verilog)
    with sim as port:
        ser = serial.Serial(port, 115200, timeout=0.05)
        try:
            yield sim, pr.FrameLink(ser, timeout=10.0)
        finally:
            ser.close()


def softmax_rows(rng: np.random.Generator, m: int) -> np.ndarray:
    """Realistic model outputs: about half the rows have a top-1 probability above 0.9."""
    logits = rng.normal(size=(m, N)) * rng.choice([1.0, 6.0], size=(m, 1))
    x = np.exp(logits - logits.max(axis=1, keepdims=True))
    return to_fixed(x / x.sum(axis=1, keepdims=True), W)


def test_configure_lock_stream_1000_vectors(board):
    sim, link = board
    st = link.status()
    assert (st.version, st.classes, st.width) == (PROTOCOL_VERSION, N, W)
    assert st.max_vectors == sim.max_vectors == 50 and st.window == 4
    assert not st.configured and not st.locked

    with pytest.raises(pr.NackNotConfigured):
        link.process(np.zeros((1, N), dtype=np.int64), N, W, st.max_vectors)
    with pytest.raises(pr.NackNotConfigured):
        link.lock()

    params = keygen(classes=N, width=W, seed=2024)
    link.configure(params.encode())
    link.lock()
    with pytest.raises(pr.NackLocked):  # write-only and locked: no second parameter set
        link.configure(keygen(classes=N, width=W, seed=1).encode())
    st = link.status()
    assert st.configured and st.locked and st.cfg_refused

    ref = ReferenceUnit(params)
    rng = np.random.default_rng(7)
    p = softmax_rows(rng, 1200)
    out, start = [], 0
    while start < len(p):  # frames of random sizes, 1 … max_vectors
        k = int(rng.integers(1, st.max_vectors + 1))
        out.append(link.process(p[start:start + k], N, W, st.max_vectors, window=st.window))
        start += k
    got = np.concatenate(out)
    want = ref.process(p)
    assert got.shape == p.shape
    mismatches = np.flatnonzero((got != want).any(axis=1))
    assert mismatches.size == 0, f"vectors {mismatches[:10]} differ from the reference"
    altered = int((got != p).any(axis=1).sum())
    assert 100 < altered < 1200  # the watermark really acts, and not on everything
    assert (got.sum(axis=1) == p.sum(axis=1)).all()

    st = link.status()
    assert st.vectors_in == st.vectors_out == 1200
    assert st.rejected == 0 and st.rx_dropped == 0 and st.uart_errors == 0
    assert st.frames_nacked == 3
    assert st.nacks_seen == (1 << NackReason.NOT_CONFIGURED) | (1 << NackReason.LOCKED)


class Fuzzer:
    """Frames that the device must refuse, one COBS block each, with their expected reason."""

    def __init__(self, seed: int, max_vectors: int, depth: int, link: pr.FrameLink) -> None:
        self.rng = random.Random(seed)
        self.kw = dict(classes=N, width=W, max_vectors=max_vectors, depth=depth,
                       configured=True, locked=True)
        self.link = link  # its vseq: the device's next VECTORS sequence number
        self.depth = depth

    def _valid_decoded(self) -> bytes:
        r = self.rng
        # (CONFIGURE frames are 598 bytes: rarer, to keep the line time of the test short)
        kind = r.choice([FrameType.VECTORS] * 8 + [FrameType.STATUS] * 3 + [FrameType.CONFIGURE])
        payload = b""
        if kind == FrameType.VECTORS:
            payload = bytes(r.getrandbits(8) for _ in range(20 * r.randint(1, 4)))
        elif kind == FrameType.CONFIGURE:
            payload = keygen(classes=N, width=W, seed=r.getrandbits(32)).encode()
        return pr.frame_bytes(kind, r.getrandbits(8), payload)

    @staticmethod
    def _no_zero(block: bytes) -> bytes:
        return bytes(b or 0x5A for b in block)

    def _with_crc(self, body: bytes) -> bytes:
        return body + pr.crc16(body).to_bytes(2, "big")

    def candidate(self) -> bytes:
        r = self.rng
        kind = r.choices(range(9), weights=[10] * 7 + [2, 1])[0]
        if kind == 0:  # bit flips in the frame (CRC-16 catches them)
            raw = bytearray(self._valid_decoded())
            for _ in range(r.randint(1, 3)):
                raw[r.randrange(len(raw))] ^= 1 << r.randrange(8)
            return pr.cobs_encode(bytes(raw))
        if kind == 1:  # a byte of the COBS block replaced (may break the block structure)
            blk = bytearray(pr.cobs_encode(self._valid_decoded()))
            blk[r.randrange(len(blk))] = r.randint(1, 255)
            return bytes(blk)
        if kind == 2:  # truncated on the line
            blk = pr.cobs_encode(self._valid_decoded())
            return blk[:r.randrange(1, len(blk))]
        if kind == 3:  # line noise
            return bytes(r.randint(1, 255) for _ in range(r.randint(1, 64)))
        if kind == 4:  # unknown type, otherwise perfect
            t = r.choice([0x00, 0x05, 0x7F, 0x80, 0x83, 0xFF])
            return pr.cobs_encode(pr.frame_bytes(t, r.getrandbits(8), b"\x01" * r.randint(0, 9)))
        if kind == 5:  # wrong number of classes: vectors of 9 or 11 words, or a partial one
            words = r.choice([9, 11, 5, 21])
            payload = bytes(r.getrandbits(8) for _ in range(2 * words))
            return pr.cobs_encode(pr.frame_bytes(FrameType.VECTORS, 1, payload))
        if kind == 6:  # length field that lies, with a correct CRC
            body = bytearray(self._valid_decoded()[:-2])
            body[2] ^= 1 << r.randrange(8)
            return pr.cobs_encode(self._with_crc(bytes(body)))
        if kind == 7:  # CONFIGURE to a locked device, or for another N
            n = r.choice([N, N, 9])
            enc = keygen(classes=n, width=W, seed=r.getrandbits(32)).encode()
            return pr.cobs_encode(pr.frame_bytes(FrameType.CONFIGURE, 2, enc))
        # kind 8: longer than the buffer (well-formed COBS, so that OVERFLOW is the first fault)
        return pr.cobs_encode(bytes(r.getrandbits(8) for _ in range(self.depth + r.randint(1, 40))))

    def next(self) -> tuple[bytes, NackReason]:
        while True:
            block = self._no_zero(self.candidate())
            reason = pr.expected_nack(block, **self.kw, vseq=self.link.vseq)
            if reason is not None:  # (a random block that happens to be valid is skipped)
                return block, reason


def test_fuzz_10000_bad_frames_between_valid_ones(board):
    sim, link = board
    params = keygen(classes=N, width=W, seed=99)
    link.configure(params.encode())
    link.lock()
    base = link.status()
    ref = ReferenceUnit(params)
    rng = np.random.default_rng(3)
    fuzz = Fuzzer(seed=5, max_vectors=sim.max_vectors, depth=sim.depth, link=link)
    reasons: dict[NackReason, int] = {}
    valid_vectors = 0
    for i in range(10_000):
        block, reason = fuzz.next()
        link.send_raw(block + b"\x00")
        reply = link.read_frame()
        assert reply.type == FrameType.NACK, f"fuzz frame {i}: got {reply}"
        assert reply.payload[0] == reason, (
            f"fuzz frame {i}: NACK {NackReason(reply.payload[0]).name}, expected {reason.name}")
        data = pr._cobs_decode_lenient(block)[0]
        assert reply.payload[1] == (data[0] if data else 0)
        assert reply.seq == (data[1] if len(data) > 1 else 0)
        reasons[reason] = reasons.get(reason, 0) + 1
        if i % 10 == 9:  # a valid frame between the bad ones comes back exactly right
            p = softmax_rows(rng, int(rng.integers(1, 6)))
            got = link.process(p, N, W, sim.max_vectors)
            assert (got == ref.process(p)).all(), f"valid frame after fuzz frame {i} differs"
            valid_vectors += len(p)
    assert set(reasons) >= {NackReason.FRAMING, NackReason.OVERFLOW, NackReason.SHORT,
                            NackReason.CRC, NackReason.LENGTH, NackReason.TYPE,
                            NackReason.CLASSES, NackReason.LOCKED}
    st = link.status()
    assert st.frames_nacked - base.frames_nacked == 10_000
    assert st.frames_ok - base.frames_ok == 1_000 + 1  # the valid frames and this STATUS
    assert st.vectors_in - base.vectors_in == valid_vectors
    assert st.vectors_out - base.vectors_out == valid_vectors
    assert st.rejected == 0 and st.rx_dropped == 0 and st.uart_errors == 0
    for reason in reasons:
        assert st.nacks_seen & (1 << reason)


def test_host_beyond_the_window_is_counted_and_recovers(board):
    """Frames sent beyond the window, while every buffer is taken, are dropped and counted
    (rx_dropped); what is answered comes back in order, and the next frame is answered
    normally. (A STATUS reply is six times its request: the buffers fill up.)"""
    sim, link = board
    window = link.status().window
    burst = 4 * window
    link.send_raw(b"".join(pr.status_frame(0x40 + k) for k in range(burst)))
    sim.wait_idle()  # in simulated time: everything the device will answer is in the pty
    seqs = [pr.decode_frame(b).seq for b in link.poll_blocks()]
    assert window <= len(seqs) < burst
    assert seqs == sorted(seqs) and seqs[:window] == [0x40 + k for k in range(window)]
    link.seq = 0x70
    st = link.status()
    assert st.rx_dropped > 0
    assert st.frames_ok == 1 + len(seqs) + 1


def test_empty_frames_are_idle_fill(board):
    _sim, link = board
    link.send_raw(b"\x00" * 50)
    st = link.status()
    assert st.frames_ok == 1 and st.frames_nacked == 0


def test_cli_board_sim_serves_until_interrupted(board_verilog):
    """`dynamarks board-sim` prints the pty path, answers on it, and stops on Ctrl-C (SIGINT)."""
    proc = subprocess.Popen([sys.executable, "-m", "dynamarks", "board-sim"],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        port, lines = None, []
        while port is None:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("/dev/"):
                port = line.strip()
        assert port, f"no pty path printed: {lines}"
        with serial.Serial(port, 115200, timeout=0.05) as ser:
            st = pr.FrameLink(ser, timeout=10.0).status()
        assert (st.classes, st.width, st.max_vectors) == (N, W, 50)
        proc.send_signal(signal.SIGINT)
        # The bound only turns a hung process into a failure (stopping the harness takes at
        # most 10 s by design; a loaded CI machine once needed more than 20 s in all).
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
