"""The ``serial`` backend: a board (or the simulated board's pseudo-terminal) over a UART.

``open_backend("serial", params, port="/dev/ttyUSB1", baudrate=115200, timeout=2.0,
retries=3, lock=True)``. It speaks docs/PROTOCOL.md through :mod:`dynamarks.host.protocol`
(COBS frames with CRC-16, stop-and-wait, one reply per request):

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

Vectors go in VECTORS frames of at most the device's ``max_vectors``. A NACK caused by the
line (FRAMING, CRC, SHORT, LENGTH, OVERFLOW) means the frame was not executed: it is sent
again, up to ``retries`` times. A reply that does not come or is garbled is resolved with
STATUS: if the device's ``vectors_out`` shows the frame was *not* processed, it is sent
again; if it *was*, its outputs are lost and re-sending would consume keystream twice, so
the backend stops with :class:`BackendError` (reconfigure to go on). After every driver
batch the device's ``vectors_out`` counter must have advanced by exactly the vectors sent.

Exceptions never contain payload bytes (a CONFIGURE payload is the secret parameter set).
"""

from __future__ import annotations

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
        baudrate: int = 115200,
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
        if st.version != 1:
            raise DeviceProtocolError(
                f"the device on {self.port_name} speaks protocol version {st.version}, not 1"
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

    def _frame(self, chunk: np.ndarray, done_before: int) -> np.ndarray:
        """One VECTORS frame with retries; ``done_before`` = device count before it."""
        payload = pr.pack_vectors(chunk, self.width)
        last: Exception | None = None
        for _attempt in range(self.retries + 1):
            try:
                reply = self._link.transact(pr.FrameType.VECTORS, payload)
                if reply.type != pr.FrameType.VECTORS_REPLY:
                    raise pr.ReplyError(f"expected VECTORS_REPLY, got 0x{reply.type:02x}")
                got = pr.unpack_vectors(reply.payload, self.classes, self.width)
                if got.shape != chunk.shape:
                    raise pr.ReplyError(f"{got.shape[0]} vectors back for {chunk.shape[0]} sent")
                return got
            except TRANSIENT_NACKS as exc:
                self.nacks_retried += 1
                last = exc
                continue
            except pr.NackNotConfigured:
                raise BackendError(
                    f"the device on {self.port_name} lost its configuration (was it reset?); "
                    "open the backend again"
                ) from None
            except pr.NackError as exc:
                raise DeviceProtocolError(f"the device refused VECTORS: {exc}") from None
            except (pr.FramingError, pr.ReplyError, pr.LinkTimeout) as exc:
                last = exc
                self._resync()
            # No usable reply: did the device process the frame?
            done = self._processed()
            if done == done_before:
                continue  # not executed: safe to send again
            raise BackendError(
                f"the device processed {done - done_before} vectors but its reply was lost "
                f"({last}); the keystream position is now ahead of the host, so the outputs "
                "cannot be recovered: open the backend again (reconfigure) to go on"
            )
        if isinstance(last, pr.LinkTimeout):
            raise DeviceNotFound(f"the device on {self.port_name} stopped answering ({last})")
        if isinstance(last, (pr.FramingError, pr.ReplyError)):
            raise self._garbage("VECTORS", last)
        raise DeviceProtocolError(f"VECTORS failed {self.retries + 1} times: {last}")

    # ---- the Backend interface ---------------------------------------------------------

    def _process(self, p: np.ndarray) -> np.ndarray:
        out = np.empty_like(p)
        done = self.position
        for start in range(0, len(p), self.frame_vectors):
            chunk = p[start : start + self.frame_vectors]
            out[start : start + len(chunk)] = self._frame(chunk, done)
            done += len(chunk)
        device = self._processed()
        if device != done:
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
