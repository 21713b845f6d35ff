"""Shared pytest fixtures.

``swtpm`` / ``swtpm_factory``: a software TPM 2.0 (Debian ``swtpm``) listening on a free
loopback port pair with its state in a temporary directory
(:class:`dynamarks.host.tpm.SoftwareTpm`), stopped when the test ends. Its ``tcti`` string
(``swtpm:host=127.0.0.1,port=P``) is what ``tpm2-pytss`` and ``dynamarks seal --tcti`` take.
Tests that need it are skipped, with the reason, when ``swtpm`` or ``tpm2-pytss`` is missing.

The CI switch: with ``CI=true`` in the environment (``.ci/run`` sets it) every skip is a
failure: a skipped test, a ``skipif`` that fires, an ``importorskip`` in a test or at module
level. On a machine that ``make setup`` prepared nothing may be missing, so CI cannot pass
having checked nothing. ``xfail`` is not a skip and is left alone.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dynamarks.host.tpm import SoftwareTpm


def ci() -> bool:
    """Whether the CI switch is on (``CI`` is ``true``, ``1`` or ``yes``)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _fail_skip(rep: pytest.TestReport | pytest.CollectReport) -> None:
    if ci() and rep.skipped and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = (f"CI=true: this skip is a failure ({reason}); `make setup` installs "
                        "every tool the tests need")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    _fail_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    outcome = yield
    _fail_skip(outcome.get_result())


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
