"""Shared pytest fixtures.

``swtpm`` / ``swtpm_factory``: a software TPM 2.0 (Debian ``swtpm``) listening on a free
loopback port pair with its state in a temporary directory
(:class:`dynamarks.host.tpm.SoftwareTpm`), stopped when the test ends. Its ``tcti`` string
(``swtpm:host=127.0.0.1,port=P``) is what ``tpm2-pytss`` and ``dynamarks seal --tcti`` take.
Tests that need it are skipped, with the reason, when ``swtpm`` or ``tpm2-pytss`` is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dynamarks.host.tpm import SoftwareTpm


@pytest.fixture
def swtpm_factory(tmp_path: Path) -> Iterator[Callable[[], SoftwareTpm]]:
    """Call it to start one more independent swtpm (each with its own state, so its own
    owner seed: a second one is "another TPM"). All are stopped after the test."""
    pytest.importorskip("tpm2_pytss")
    if shutil.which("swtpm") is None:
        pytest.skip("swtpm is not installed (Debian package swtpm)")
    started: list[SoftwareTpm] = []

    def make() -> SoftwareTpm:
        tpm = SoftwareTpm(tmp_path / f"swtpm{len(started)}").start()
        started.append(tpm)
        return tpm

    yield make
    for tpm in started:
        tpm.stop()


@pytest.fixture
def swtpm(swtpm_factory: Callable[[], SoftwareTpm]) -> SoftwareTpm:
    """One running software TPM for this test."""
    return swtpm_factory()
