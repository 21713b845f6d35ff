"""The CI switch of tests/conftest.py, run on a small inner test session (pytester): with
CI=true every skip fails (in a test, by a skipif marker, by importorskip in a test or at
module level); without it they are skips; xfail stays xfail."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py").read_text()

INNER = """
import pytest

def test_skip():
    pytest.skip("no such tool")

@pytest.mark.skipif(True, reason="tool missing")
def test_skipif():
    pass

def test_importorskip():
    pytest.importorskip("no_such_module_dmk")

@pytest.mark.xfail(reason="known", strict=True)
def test_xfail():
    assert False

def test_pass():
    pass
"""

MODULE_LEVEL = """
import pytest
pytest.importorskip("no_such_module_dmk")

def test_never():
    pass
"""


@pytest.mark.parametrize("value, fails", [("true", True), ("", False), ("false", False)])
def test_skips_fail_only_in_ci(pytester, monkeypatch, value: str, fails: bool) -> None:
    monkeypatch.setenv("CI", value)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner=INNER, test_module=MODULE_LEVEL)
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--continue-on-collection-errors"
    )
    if fails:
        # skipif fires in setup: an error; module-level importorskip: a collection error
        result.assert_outcomes(passed=1, failed=2, xfailed=1, errors=2)
        result.stdout.fnmatch_lines(["*CI=true: this skip is a failure*"])
    else:
        result.assert_outcomes(passed=1, skipped=4, xfailed=1)
