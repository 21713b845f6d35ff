"""The ``serial`` backend: a board (or the simulated board's pseudo-terminal) over a UART.

``open_backend("serial", params, port="/dev/ttyUSB1", baudrate=3000000, timeout=2.0,
retries=3, lock=True)``. It speaks docs/PROTOCOL.md (version 2) through
:mod:`dynamarks.host.protocol` (COBS frames with CRC-16, one reply per request, in order):

1. open the port (pyserial ``serial_for_url``, so ``/dev/tty*``, a pty path or a pyserial URL);
   a missing port is :class:`DeviceNotFound`;
2. STATUS: no reply is :class:`DeviceNotFound` ("nothing answers on PORT"), bytes that are not
   a frame are :class:`DeviceProtocolError` ("answers garbage: wrong port or baud rate?");
   a device built for another N or W, or of another protocol version, is refused; a device
   that is already *locked* is :class:`DeviceLockedError`: its parameters are write-only, so
   the host cannot know what it holds, and it must be reset to take this set;
3. CONFIGURE with ``Params.encode()`` (the device restarts its keystream at position 0),
   then LOCK unless ``lock=False``; STATUS again, whose ``vectors_out`` is the baseline of
   the count check.

Vectors go in VECTORS frames of at most the device's ``max_vectors``, pipelined: up to the
device's ``window`` frames are unanswered at a time (PROTOCOL §6), so the line is busy both
ways. Each VECTORS frame carries the device's VECTORS sequence number, and the device executes
only the frame whose number is next: after a frame is refused or lost, the ones behind it are
refused too (NACK SEQUENCE), so frames execute in order whatever happens on the line.

When a frame fails — a NACK caused by the line (FRAMING, CRC, SHORT, LENGTH, OVERFLOW), a
SEQUENCE NACK, a reply that does not come or is garbled — the backend stops sending, collects
the replies still due, and reads STATUS: its ``vseq`` says how many of the frames the device
executed. If every executed frame's reply arrived, it resumes from the first frame not
executed (up to ``retries`` times per frame). If a frame was executed but its reply was lost,
its outputs are lost and re-sending would consume keystream twice, so the backend stops with
:class:`BackendError` (reconfigure to go on). A frame is never sent again unless STATUS shows
the device did not execute it. After every driver batch the device's ``vectors_out`` counter
must have advanced by exactly the vectors received.

Exceptions never contain payload bytes (a CONFIGURE payload is the secret parameter set).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from dynamarks.host import protocol as pr
from dynamarks.host.driver import (
    Backend,
    BackendError,
    DeviceLockedError,
    DeviceNotFound,
    DeviceProtocolError,
)
from dynamarks.host.params import Params
from dynamarks.wire import PROTOCOL_VERSION

T = TypeVar("T")

#: NACKs that mean "the frame was damaged on the line and not executed": safe to re-send.
TRANSIENT_NACKS = (pr.NackFraming, pr.NackCrc, pr.NackShort, pr.NackLength, pr.NackOverflow)
#: Frames per driver batch (the device's counters are checked once per batch).
FRAMES_PER_BATCH = 64
#: pyserial read time-out; the link's own time-out (``timeout``) is the one that matters.
_POLL = 0.02


class _ReadAvailable:
    """A pyserial port whose ``read(size)`` returns what has arrived instead of waiting for
    ``size`` bytes or the poll time-out (which would add the time-out to every reply)."""

    def __init__(self, port: Any) -> None:
        self._port = port
        self.timeout = port.timeout  # the link counts its time-out in reads of this length

    def read(self, size: int = 1) -> bytes:
        waiting = self._port.in_waiting
        return self._port.read(min(size, waiting) if waiting else 1)

    def write(self, data: bytes) -> int | None:
        return self._port.write(data)

    def close(self) -> None:
        self._port.close()


def _open_port(port: str, baudrate: int) -> Any:
    import serial

    try:
        raw = serial.serial_for_url(port, baudrate=baudrate, timeout=_POLL, write_timeout=10)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise DeviceNotFound(f"cannot open serial port {port}: {exc}") from None
    return _ReadAvailable(raw)


class SerialBackend(Backend):
    """See the module docstring. ``port_factory(port, baudrate)`` replaces pyserial (tests)."""

    name = "serial"

    def __init__(
        self,
        params: Params,
        port: str,
        *,
        baudrate: int = 3_000_000,
        timeout: float = 2.0,
        retries: int = 3,
        lock: bool = True,
        port_factory: Callable[[str, int], Any] | None = None,
    ) -> None:
        super().__init__(params)
        if retries < 0 or timeout <= 0:
            raise BackendError("retries must be >= 0 and timeout > 0")
        self.port_name = port
        self.retries = retries
        self._serial = (port_factory or _open_port)(port, baudrate)
        self.nacks_retried = 0
        try:
            self._link = pr.FrameLink(self._serial, timeout=timeout)
            status = self._first_status()
            self._check_identity(status)
            if status.locked:
                raise DeviceLockedError(
                    f"the device on {port} is locked with a parameter set (parameters are "
                    "write-only, so the host cannot tell which); reset or power-cycle it to "
                    "configure a new one"
                )
            self._idempotent(lambda: self._link.configure(params.encode()), "CONFIGURE")
            if lock:
                self._idempotent(self._link.lock, "LOCK")
            status = self._idempotent(self._link.status, "STATUS")
            if not status.configured or (lock and not status.locked):
                raise DeviceProtocolError(
                    f"the device on {port} acknowledged the configuration but reports "
                    f"configured={status.configured}, locked={status.locked}"
                )
            self._base_out = status.vectors_out
            self._link.vseq = status.vseq
            self.window = max(1, status.window)
            self.frame_vectors = status.max_vectors
            self.max_batch = status.max_vectors * FRAMES_PER_BATCH
        except BaseException:
            self._serial.close()
            raise

    # ---- start-up --------------------------------------------------------------------------

    def _first_status(self) -> pr.Status:
        try:
            return self._idempotent(self._link.status, "STATUS", on_timeout=None)
        except pr.LinkTimeout:
            raise DeviceNotFound(
                f"nothing answers on {self.port_name} (no reply to STATUS within "
                f"{self._link.timeout:.1f} s): is the board connected and running the "
                "watermark bitstream, and is the baud rate right?"
            ) from None

    def _check_identity(self, st: pr.Status) -> None:
        if st.version != PROTOCOL_VERSION:
            raise DeviceProtocolError(
                f"the device on {self.port_name} speaks protocol version {st.version}, not "
                f"{PROTOCOL_VERSION}: rebuild its bitstream from this version"
            )
        if (st.classes, st.width) != (self.classes, self.width):
            raise BackendError(
                f"the device on {self.port_name} is built for N={st.classes}, W={st.width}; "
                f"the parameter set is for N={self.classes}, W={self.width}"
            )
        if st.max_vectors < 1:
            raise DeviceProtocolError("the device reports max_vectors = 0")

    # ---- transactions with retries -----------------------------------------------------

    def _garbage(self, what: str, exc: Exception) -> DeviceProtocolError:
        return DeviceProtocolError(
            f"the device on {self.port_name} answers garbage to {what} ({exc}); wrong port or "
            "baud rate, or a noisy line?"
        )

    def _resync(self) -> None:
        """Discard late or partial replies so the next reply read belongs to the next request."""
        self._serial.write(b"\x00")
        try:
            while True:
                self._link.read_block(timeout=0.05)
        except pr.LinkTimeout:
            pass
        except pr.ProtocolError:  # pragma: no cover - read_block only times out
            pass

    def _idempotent(
        self, call: Callable[[], T], what: str, on_timeout: type[Exception] | None = BackendError
    ) -> T:
        """Run a request that may be repeated (STATUS, CONFIGURE, LOCK) with retries."""
        last: Exception | None = None
        for _attempt in range(self.retries + 1):
            try:
                return call()
            except TRANSIENT_NACKS as exc:
                self.nacks_retried += 1
                last = exc
            except pr.NackLocked:
                raise DeviceLockedError(
                    f"the device on {self.port_name} is locked and refuses a new parameter "
                    "set; reset or power-cycle it"
                ) from None
            except pr.NackClasses:
                raise BackendError(
                    f"the device on {self.port_name} refuses the {what} frame: it is built "
                    "for another number of classes or word width"
                ) from None
            except pr.NackError as exc:
                raise DeviceProtocolError(f"the device refused {what}: {exc}") from None
            except (pr.FramingError, pr.ReplyError) as exc:
                last = self._garbage(what, exc)
                self._resync()
            except pr.LinkTimeout as exc:
                if on_timeout is None:
                    raise
                last = exc
                self._resync()
        if isinstance(last, pr.LinkTimeout):
            raise DeviceNotFound(
                f"the device on {self.port_name} stopped answering ({what}: {last})"
            )
        if isinstance(last, DeviceProtocolError):
            raise last
        raise DeviceProtocolError(
            f"{what} failed {self.retries + 1} times on {self.port_name}: {last}"
        )

    def _status(self) -> pr.Status:
        return self._idempotent(self._link.status, "STATUS")

    def _processed(self) -> int:
        """Vectors the device has output since configuration (its counter, mod 2**32)."""
        return (self._status().vectors_out - self._base_out) & 0xFFFFFFFF

    def _stream(self, chunks: list[np.ndarray], results: list[np.ndarray | None],
                start: int) -> tuple[int, Exception] | None:
        """Send ``chunks[start:]`` pipelined (at most ``window`` unanswered) and put each reply's
        vectors into ``results``. Stops sending at the first failure and collects the replies
        still due; returns (first failed chunk, its exception) or None."""
        link = self._link
        inflight: deque[tuple[int, int]] = deque()  # (chunk index, seq)
        failure: tuple[int, Exception] | None = None
        garbled: Exception | None = None
        i = start
        while True:
            while failure is None and i < len(chunks) and len(inflight) < self.window:
                inflight.append((i, link.send_vectors(chunks[i], self.width)))
                i += 1
            if not inflight:
                return failure
            try:
                frame = link.read_frame()
            except pr.LinkTimeout as exc:  # no reply for any frame still due
                return failure or (inflight[0][0], garbled or exc)
            except pr.FramingError as exc:  # a damaged reply: whose, the next one tells
                garbled = exc
                continue
            pos = next((k for k, (_, seq) in enumerate(inflight) if seq == frame.seq), None)
            if pos is None:  # a reply to nothing in flight: the line is not what we think
                j, _ = inflight.popleft()
                failure = failure or (j, pr.ReplyError(f"unexpected reply seq {frame.seq}"))
                continue
            for _ in range(pos):  # frames before it got no (readable) reply
                j, _ = inflight.popleft()
                failure = failure or (j, garbled or pr.ReplyError("reply missing"))
            j, _ = inflight.popleft()
            try:
                reply = pr.parse_reply(frame)
                if reply.type != pr.FrameType.VECTORS_REPLY:
                    raise pr.ReplyError(f"expected VECTORS_REPLY, got 0x{reply.type:02x}")
                got = pr.unpack_vectors(reply.payload, self.classes, self.width)
                if got.shape != chunks[j].shape:
                    raise pr.ReplyError(f"{got.shape[0]} vectors back for {len(chunks[j])} sent")
                results[j] = got
            except TRANSIENT_NACKS as exc:
                self.nacks_retried += 1
                failure = failure or (j, exc)
            except (pr.NackSequence, pr.ReplyError) as exc:
                failure = failure or (j, exc)
            except pr.NackNotConfigured:
                raise BackendError(
                    f"the device on {self.port_name} lost its configuration (was it reset?); "
                    "open the backend again"
                ) from None
            except pr.NackError as exc:
                raise DeviceProtocolError(f"the device refused VECTORS: {exc}") from None

    def _give_up(self, last: Exception) -> Exception:
        if isinstance(last, pr.LinkTimeout):
            return DeviceNotFound(f"the device on {self.port_name} stopped answering ({last})")
        if isinstance(last, (pr.FramingError, pr.ReplyError)):
            return self._garbage("VECTORS", last)
        return DeviceProtocolError(f"VECTORS failed {self.retries + 1} times: {last}")

    # ---- the Backend interface ---------------------------------------------------------

    def _process(self, p: np.ndarray) -> np.ndarray:
        fv = self.frame_vectors
        chunks = [p[s:s + fv] for s in range(0, len(p), fv)]
        results: list[np.ndarray | None] = [None] * len(chunks)
        attempts = [0] * len(chunks)
        v0 = self._link.vseq  # the device's VECTORS sequence number of chunks[0]
        start = 0
        while (failure := self._stream(chunks, results, start)) is not None:
            j, last = failure
            self._resync()
            st = self._status()
            executed = (st.vseq - v0) & 0xFF  # of these chunks, the device executed the first
            lost = [k for k in range(min(executed, len(chunks))) if results[k] is None]
            if lost or executed > len(chunks):
                raise BackendError(
                    f"the device processed a frame of {len(chunks[lost[0] if lost else j])} "
                    f"vectors but its reply was lost ({last}); the keystream position is now "
                    "ahead of the host, so the outputs cannot be recovered: open the backend "
                    "again (reconfigure) to go on"
                )
            if executed < j:
                raise DeviceProtocolError(
                    f"the device on {self.port_name} reports {executed} frames executed, but "
                    f"{j} replies arrived: it is not following the protocol"
                )
            attempts[executed] += 1
            if attempts[executed] > self.retries:
                raise self._give_up(last)
            start = executed
            self._link.vseq = st.vseq
        out = np.empty_like(p)
        for k, got in enumerate(results):
            out[k * fv:k * fv + len(got)] = got
        device = self._processed()
        done = self.position + len(p)
        if device != done & 0xFFFFFFFF:
            raise BackendError(
                f"count check failed: the device output {device} vectors since configuration, "
                f"the host received {done}"
            )
        return out

    def status(self) -> pr.Status:
        """The device's STATUS (counters and flags; nothing secret)."""
        return self._status()

    def _close(self) -> None:
        self._serial.close()
