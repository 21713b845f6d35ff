"""Shared pytest fixtures.

``swtpm`` / ``swtpm_factory``: a software TPM 2.0 (Debian ``swtpm``) listening on a free
loopback port pair (command port P, control port P+1) with its state in a temporary
directory; stopped (SIGTERM, then SIGKILL) when the test ends. The fixture yields an
:class:`SwTpm` whose ``tcti`` string (``swtpm:host=127.0.0.1,port=P``) is what
``tpm2-pytss`` and ``dynamarks seal --tcti`` take. Tests that need it are skipped, with the
reason, when the ``swtpm`` binary or ``tpm2-pytss`` is missing.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def _port_pair_free(port: int) -> bool:
    """True when both ``port`` and ``port + 1`` can be bound on 127.0.0.1 right now."""
    for p in (port, port + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
    return True


def _free_port_pair() -> int:
    """A port P such that P and P+1 are free (the kernel picks P; retried on collision)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65535 and _port_pair_free(port):
            return port
    raise RuntimeError("no free loopback port pair for swtpm")


@dataclass
class SwTpm:
    """A running swtpm: its TCTI string, ports, state directory and process."""

    port: int
    state_dir: Path
    proc: subprocess.Popen

    @property
    def tcti(self) -> str:
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def stop(self) -> None:
        """Terminate the process (idempotent)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def start_swtpm(state_dir: Path) -> SwTpm:
    """Start ``swtpm socket --tpm2`` on a free port pair; returns once it accepts connections."""
    exe = shutil.which("swtpm")
    if exe is None:
        pytest.skip("swtpm is not installed (Debian package swtpm)")
    state_dir.mkdir(parents=True, exist_ok=True)
    last_err = ""
    for _attempt in range(5):
        port = _free_port_pair()
        proc = subprocess.Popen(
            [
                exe, "socket", "--tpm2",
                "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                "--tpmstate", f"dir={state_dir}",
                "--flags", "not-need-init,startup-clear",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", port), timeout=0.2
            ):
                return SwTpm(port=port, state_dir=state_dir, proc=proc)
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        last_err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    raise RuntimeError(f"swtpm did not start: {last_err.strip()}")


@pytest.fixture
def swtpm_factory(tmp_path: Path) -> Iterator[Callable[[], SwTpm]]:
    """Call it to start one more independent swtpm (each with its own state, so its own
    owner seed: a second one is "another TPM"). All are stopped after the test."""
    pytest.importorskip("tpm2_pytss")
    started: list[SwTpm] = []

    def make() -> SwTpm:
        tpm = start_swtpm(tmp_path / f"swtpm{len(started)}")
        started.append(tpm)
        return tpm

    yield make
    for tpm in started:
        tpm.stop()


@pytest.fixture
def swtpm(swtpm_factory: Callable[[], SwTpm]) -> SwTpm:
    """One running software TPM for this test."""
    return swtpm_factory()
