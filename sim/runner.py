"""Runner glue: build a generated Verilog design once per configuration and run cocotb on it.

A *bench* is one cocotb test module run against one generated design. Every module
``sim/tb_*.py`` declares its benches in a module-level list::

    BENCHES = [
        Bench(
            name="unit_n10_w16",                       # unique, used for build folders and reports
            verilog=functools.partial(generate_verilog, 10, 16),   # () -> Verilog text
            test_module="dynamarks.sim.tb_unit",       # the module holding the @cocotb.test()s
            simulators=("icarus", "verilator"),
            env={"DMK_CLASSES": "10", "DMK_WIDTH": "16"},          # read by the tests
            sim_env={"verilator": {"DMK_VECTORS": "100000"}},      # per-simulator additions
        ),
    ]

:func:`run_bench` builds the design with :mod:`cocotb_tools.runner` into
``build/sim/<name>-<simulator>-<hash>`` — the hash covers the Verilog text, the top module, the
simulator, its version and the build options, so an unchanged design is never recompiled —
then runs the tests and returns a :class:`BenchResult` (tests passed and failed, the failure
messages, the metrics the tests reported, build and run times). It never raises for a failing
test; it raises :class:`~dynamarks.sim.toolchain.ToolchainError` when a simulator is missing.

Tests report figures (cycles per vector, latency, …) with :func:`report_metric`; they come
back in ``BenchResult.metrics``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from dynamarks.host.verilator import BENCH_FLAGS, BENCH_MAKE, locked, prune
from dynamarks.sim import toolchain

#: Environment variable through which a running test finds the metrics file.
METRICS_ENV = "DMK_METRICS_FILE"

TIMESCALE = ("1ns", "1ps")

#: Verilator options and make variables of the benches (one set, in host/verilator.py).
VERILATOR_ARGS = BENCH_FLAGS
VERILATOR_MAKE = BENCH_MAKE


@dataclass(frozen=True)
class Bench:
    """One cocotb test module against one generated design (see the module docstring)."""

    name: str
    verilog: Callable[[], str]
    test_module: str
    simulators: tuple[str, ...] = toolchain.SIMULATORS
    toplevel: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    sim_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    testcase: str | None = None

    def env_for(self, simulator: str) -> dict[str, str]:
        """The environment the tests see on ``simulator``."""
        return {**self.env, **self.sim_env.get(simulator, {})}


@dataclass
class BenchResult:
    """What one bench run on one simulator produced."""

    bench: str
    simulator: str
    tests: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    metrics: dict[str, float | int | str] = field(default_factory=dict)
    build_s: float = 0.0
    run_s: float = 0.0
    log_file: Path | None = None
    error: str | None = None

    @property
    def passed(self) -> int:
        return self.tests - self.failed

    @property
    def ok(self) -> bool:
        return self.error is None and self.tests > 0 and self.failed == 0

    def summary(self) -> str:
        """A short text for an assertion message: failures, error and the log's tail."""
        lines = [f"{self.bench} on {self.simulator}: {self.passed}/{self.tests} passed"]
        if self.error:
            lines.append(f"error: {self.error}")
        lines += self.failures
        if self.log_file is not None and self.log_file.is_file():
            tail = self.log_file.read_text(errors="replace").splitlines()[-60:]
            lines.append(f"--- last lines of {self.log_file} ---")
            lines += tail
        return "\n".join(lines)


def report_metric(name: str, value: float | int | str) -> None:
    """Record a figure from inside a running cocotb test (no-op outside :func:`run_bench`)."""
    path = os.environ.get(METRICS_ENV)
    if not path:
        return
    p = Path(path)
    data = json.loads(p.read_text()) if p.is_file() else {}
    data[name] = value
    p.write_text(json.dumps(data, indent=1, sort_keys=True))


_TOP_RE = re.compile(r"\(\*\s*top\s*=\s*1\s*\*\)\s*(?:\(\*[^)]*\*\)\s*)*module\s+\\?([\w$]+)")
_MODULE_RE = re.compile(r"^\s*module\s+\\?([\w$]+)", re.M)


def toplevel_of(verilog: str) -> str:
    """The top module of a Verilog text: the one Yosys marks ``(* top = 1 *)``, else the last."""
    m = _TOP_RE.search(verilog)
    if m:
        return m.group(1)
    names = _MODULE_RE.findall(verilog)
    if not names:
        raise ValueError("no module in the generated Verilog")
    return names[-1]


def _design_hash(verilog: str, toplevel: str, simulator: str, args: Sequence[str]) -> str:
    import cocotb

    h = hashlib.sha256()
    for part in (verilog, toplevel, simulator, cocotb.__version__, *args):
        h.update(part.encode())
        h.update(b"\0")
    if simulator == "verilator":
        h.update(toolchain.verilator_env().encode())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def _makeflags(assignments: Sequence[str]) -> Iterator[None]:
    """Add make variable assignments to ``MAKEFLAGS`` for the builds inside the block."""
    old = os.environ.get("MAKEFLAGS")
    if assignments:
        os.environ["MAKEFLAGS"] = " ".join([old or "", *assignments]).strip()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = old


def _runner(simulator: str):
    from cocotb_tools.runner import get_runner

    toolchain.require(simulator)
    return get_runner(simulator)


def build(bench: Bench, simulator: str, verilog: str | None = None) -> tuple[Path, str, float]:
    """Compile ``bench``'s design for ``simulator`` unless a matching build is cached.

    Returns the build folder, the top module name and the seconds spent (0 when cached).
    """
    verilog = bench.verilog() if verilog is None else verilog
    top = bench.toplevel or toplevel_of(verilog)
    args = list(VERILATOR_ARGS + VERILATOR_MAKE) if simulator == "verilator" else []
    key = _design_hash(verilog, top, simulator, args)
    root = toolchain.build_root() / "sim"
    build_dir = root / f"{bench.name}-{simulator}-{key}"
    stamp = build_dir / ".built"
    t0 = time.monotonic()
    with locked(root / f".{bench.name}-{simulator}.lock"):
        if stamp.is_file():
            return build_dir, top, 0.0
        prune(root, f"{bench.name}-{simulator}-*")
        shutil.rmtree(build_dir, ignore_errors=True)  # a failed earlier attempt
        build_dir.mkdir(parents=True)
        src = build_dir / f"{top}.v"
        src.write_text(verilog)
        runner = _runner(simulator)
        log = build_dir / "build.log"
        verilator = simulator == "verilator"
        try:
            with _makeflags(VERILATOR_MAKE if verilator else ()):
                runner.build(
                    sources=[src],
                    hdl_toplevel=top,
                    build_dir=build_dir,
                    build_args=list(VERILATOR_ARGS) if verilator else [],
                    timescale=TIMESCALE,
                    always=True,
                    log_file=log,
                )
        except (RuntimeError, SystemExit) as exc:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            raise toolchain.ToolchainError(
                f"{simulator} build of {bench.name} failed ({exc}):\n{tail}"
            ) from None
        stamp.write_text(key)
    return build_dir, top, time.monotonic() - t0


def _parse_results(xml: Path, result: BenchResult) -> None:
    root = ElementTree.parse(xml).getroot()
    for case in root.iter("testcase"):
        result.tests += 1
        for tag in ("failure", "error"):
            for bad in case.findall(tag):
                result.failed += 1
                msg = (bad.get("message") or bad.text or "").strip()
                result.failures.append(f"{case.get('name')}: {msg[:2000]}")
                break


def run_bench(
    bench: Bench,
    simulator: str,
    *,
    seed: int | None = None,
    testcase: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    waves: bool = False,
) -> BenchResult:
    """Build (or reuse) ``bench`` for ``simulator`` and run its cocotb tests.

    ``testcase`` (comma-separated test names) overrides ``bench.testcase``. The cocotb log
    goes to ``<build>/runs/<pid>/sim.log``; ``BenchResult.summary()`` quotes its tail.
    """
    result = BenchResult(bench.name, simulator)
    try:
        build_dir, top, result.build_s = build(bench, simulator)
    except (toolchain.ToolchainError, ValueError) as exc:
        result.error = str(exc)
        return result
    run_dir = build_dir / "runs" / str(os.getpid())
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    metrics = run_dir / "metrics.json"
    xml = run_dir / "results.xml"
    env = {**bench.env_for(simulator), **(extra_env or {}), METRICS_ENV: str(metrics)}
    result.log_file = run_dir / "sim.log"
    runner = _runner(simulator)
    t0 = time.monotonic()
    # Outside pytest the runner returns; under pytest it calls sys.exit on a failing test.
    # Either way the results file says what happened, and that is what we read.
    pytest_test = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        runner.test(
            test_module=bench.test_module,
            hdl_toplevel=top,
            hdl_toplevel_lang="verilog",
            build_dir=build_dir,
            test_dir=run_dir,
            results_xml=str(xml),
            testcase=testcase or bench.testcase,
            seed=seed,
            extra_env=env,
            waves=waves,
            timescale=TIMESCALE,
            log_file=result.log_file,
        )
    except SystemExit as exc:
        result.error = f"simulator exited with status {exc.code}"
    finally:
        if pytest_test is not None:
            os.environ["PYTEST_CURRENT_TEST"] = pytest_test
    result.run_s = time.monotonic() - t0
    if xml.is_file():
        _parse_results(xml, result)
        if result.error and result.tests and not result.failed:
            result.error = None  # a nonzero exit with every test passed: trust the results
    elif result.error is None:
        result.error = "no results file: the simulation ended abnormally"
    if metrics.is_file():
        result.metrics = json.loads(metrics.read_text())
    return result


def discover(package_dir: Path | None = None) -> list[Bench]:
    """Every ``BENCHES`` entry of every ``sim/tb_*.py`` module, in file-name order."""
    import importlib

    package_dir = package_dir or Path(__file__).resolve().parent
    benches: list[Bench] = []
    for path in sorted(package_dir.glob("tb_*.py")):
        module = importlib.import_module(f"dynamarks.sim.{path.stem}")
        benches.extend(getattr(module, "BENCHES", []))
    names = [b.name for b in benches]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"bench names must be unique; repeated: {sorted(dupes)}")
    return benches
