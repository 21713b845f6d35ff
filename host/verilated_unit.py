"""The WatermarkUnit compiled with Verilator and driven in large batches through ctypes.

Interface::

    unit = VerilatedUnit(params, lock=False)      # build (cached), reset, configure, start
    out = unit.process(p)                         # int[M, N] codes -> int64[M, N]
    unit.counters()                               # {"vectors_in": …, "vectors_out": …, …}
    unit.close()                                  # or use it as a context manager

or, as the host's ``rtl`` backend uses it, ``VerilatedUnit(classes, width)`` followed by
``unit.configure(params)``. ``configure`` resets the unit first, so it also works after a lock.

``process`` hands the whole batch to a C++ loop (host/verilated_unit.cpp) that offers one word
per clock on the unit's sink, keeps the unit's source always ready and collects every output
word; Python is called once per batch. The loop relies on rtl/unit.py's stream contract
(``sink.ready`` and ``source.valid``/``payload`` depend on registers only) to sample the
handshake before it sets the next inputs, so a clock costs one model evaluation plus a
trivial falling-edge one; a unit that broke the contract would fail the bit-exact tests.
The keystream position lives in the unit, so the results are bit-identical to
:class:`dynamarks.host.reference.ReferenceUnit` across calls
(tests/test_verilated_unit.py). Inputs are checked like the reference does
(``check_words``) before a single clock runs.

Build: the Verilog of ``WatermarkUnit(classes=N, width=W)`` (:func:`unit_verilog`) plus
the harness are compiled once into ``build/verilator/unit_n{N}_w{W}-<hash>/libunit.so``; the
hash covers the Verilog, the harness source, the Verilator version and the flags, so a
changed design is rebuilt and an unchanged one loads in milliseconds. A missing Verilator
or C++ compiler raises :class:`~dynamarks.host.verilator.ToolchainError` with the fix.
"""

from __future__ import annotations

import ctypes
import os
import shutil
from pathlib import Path

import numpy as np

from dynamarks.host import verilator
from dynamarks.host.params import Params
from dynamarks.host.reference import check_words

HARNESS = Path(__file__).resolve().parent / "verilated_unit.cpp"
#: The unit's optional sticky "write or start after lock" flag: the harness reads it when the
#: generated Verilog has the port.
TOP = "watermark_unit"
STATUS_IDLE = 4  # idle clocks before reading counters (they may lag the handshake)
STALL_LIMIT = 10_000  # clocks with no word in or out before process() gives up
WARMUP_LIMIT = 100_000  # clocks from cfg_start to ready before configure() gives up

_u32p = ctypes.POINTER(ctypes.c_uint32)


class HarnessError(RuntimeError):
    """The unit did not behave as its stream contract says (stall, bad marks, no ready)."""


def unit_verilog(classes: int, width: int) -> str:
    """Verilog of ``WatermarkUnit(classes, width)`` (module :data:`TOP`)."""
    from dynamarks.rtl.verilog import generate_verilog

    return generate_verilog(classes, width, name=TOP)


def payload_fields(width: int) -> dict[str, tuple[int, int]]:
    """Field name -> (offset, width) of the unit's stream payload."""
    from dynamarks.rtl.unit import word_layout

    return {name: (f.offset, f.width) for name, f in word_layout(width)}


def config_writes(params: Params) -> list[tuple[int, int]]:
    """``(address, word)`` writes that load ``params`` into the unit's config port."""
    from dynamarks.rtl.param_store import config_writes as rtl_writes

    fields = {"key": params.key, "iv": params.iv, "alpha": params.alpha, "beta": params.beta,
              "a": params.a, "b": params.b, "C": params.thresholds}
    return rtl_writes(fields, params.classes)


def build_library(classes: int, width: int, build_dir: os.PathLike | None = None) -> Path:
    """Compile (or find cached) the shared library for ``WatermarkUnit(classes, width)``:
    ``build/verilator/unit_n{N}_w{W}-<key>/libunit.so`` (see :mod:`dynamarks.host.verilator`)."""
    verilator.require_verilator()
    verilog = unit_verilog(classes, width)
    key = verilator.cache_key(verilog, HARNESS.read_text(), *verilator.MODEL_FLAGS,
                              *verilator.CXXFLAGS)
    root = Path(build_dir) if build_dir else verilator.build_root() / "verilator"
    name = f"unit_n{classes}_w{width}"
    out = root / f"{name}-{key}"
    lib = out / "libunit.so"
    with verilator.locked(root / f".{name}.lock"):
        if lib.is_file():
            return lib
        verilator.prune(root, f"{name}-*")
        shutil.rmtree(out, ignore_errors=True)  # a failed earlier attempt
        out.mkdir(parents=True)
        src = out / f"{TOP}.v"
        src.write_text(verilog)
        log = out / "build.log"
        model, runtime = verilator.compile_model(src, TOP, out / "obj", log)
        tmp = out / "libunit.so.tmp"
        verilator.run_logged(
            [verilator.cxx(), "-shared", *verilator.CXXFLAGS, f"-I{out / 'obj'}",
             *verilator.include_dirs(), str(HARNESS), str(model), str(runtime), "-o", str(tmp),
             "-pthread"],
            out, log,
        )
        tmp.rename(lib)
    return lib


def _load(lib: Path) -> ctypes.CDLL:
    dll = ctypes.CDLL(str(lib))
    dll.vu_new.restype = ctypes.c_void_p
    dll.vu_new.argtypes = [ctypes.c_int] * 4
    dll.vu_free.argtypes = [ctypes.c_void_p]
    dll.vu_cycles.restype = ctypes.c_uint64
    dll.vu_cycles.argtypes = [ctypes.c_void_p]
    dll.vu_reset.argtypes = [ctypes.c_void_p, ctypes.c_int]
    dll.vu_configure.restype = ctypes.c_int64
    # (handle, addr[], data[], count, lock, warm-up limit)
    dll.vu_configure.argtypes = [ctypes.c_void_p, _u32p, _u32p, ctypes.c_int, ctypes.c_int,
                                 ctypes.c_int64]
    dll.vu_process.restype = ctypes.c_int64
    # (handle, in[], out[], vectors, classes, stall limit)
    dll.vu_process.argtypes = [ctypes.c_void_p, _u32p, _u32p, ctypes.c_int64, ctypes.c_int,
                               ctypes.c_int64]
    dll.vu_status.argtypes = [ctypes.c_void_p, ctypes.c_int, _u32p]
    return dll


class VerilatedUnit:
    """One Verilated WatermarkUnit instance (see the module docstring)."""

    def __init__(
        self,
        params: Params | int,
        width: int | None = None,
        *,
        lock: bool = False,
        build_dir: os.PathLike | None = None,
    ) -> None:
        if isinstance(params, Params):
            classes, width, initial = params.classes, params.width, params
        else:
            if width is None:
                raise TypeError("VerilatedUnit(classes, width) needs the word width")
            classes, initial = int(params), None
        self.classes, self.width = classes, int(width)
        self.lib_path = build_library(classes, self.width, build_dir)
        self._dll = _load(self.lib_path)
        f = payload_fields(self.width)
        self._h = self._dll.vu_new(self.width, f["data"][0], f["first"][0], f["last"][0])
        self.params: Params | None = None
        self.warmup_cycles = 0
        self.process_cycles = 0
        if initial is not None:
            self.configure(initial, lock=lock)

    # ---- life cycle -----------------------------------------------------------------------

    def _handle(self):
        if self._h is None:
            raise HarnessError("the Verilated unit is closed")
        return self._h

    def close(self) -> None:
        if getattr(self, "_h", None) is not None:
            self._dll.vu_free(self._h)
            self._h = None

    def __enter__(self) -> VerilatedUnit:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VerilatedUnit(classes={self.classes}, width={self.width})"

    # ---- operations -----------------------------------------------------------------------

    def reset(self, cycles: int = 2) -> None:
        """Pulse ``rst``: parameters, lock and counters are gone until :meth:`configure`."""
        self._dll.vu_reset(self._handle(), cycles)
        self.params = None

    def configure(self, params: Params, lock: bool = False) -> int:
        """Reset, write ``params.config_words()``, start the keystream (position 0), wait for
        ``ready``, optionally lock. Returns the clocks from ``cfg_start`` to ``ready``."""
        params.validate()
        if (params.classes, params.width) != (self.classes, self.width):
            raise ValueError(
                f"parameters for N={params.classes}, W={params.width} on a unit built for "
                f"N={self.classes}, W={self.width}"
            )
        self.reset()
        writes = np.asarray(config_writes(params), dtype=np.uint32).reshape(-1, 2)
        addr, data = np.ascontiguousarray(writes[:, 0]), np.ascontiguousarray(writes[:, 1])
        waited = self._dll.vu_configure(
            self._handle(),
            addr.ctypes.data_as(_u32p),
            data.ctypes.data_as(_u32p),
            len(writes),
            int(lock),
            WARMUP_LIMIT,
        )
        if waited < 0:
            raise HarnessError(f"the unit did not start running within {WARMUP_LIMIT} clocks")
        status = self.status()
        if status["locked"] != int(lock):
            raise HarnessError("the unit refused its configuration")
        self.params = params
        self.warmup_cycles = int(waited)
        return self.warmup_cycles

    def process(self, p: np.ndarray) -> np.ndarray:
        """Stream vectors p[M, N] (W-bit codes) through the unit; returns int64[M, N]."""
        if self.params is None:
            raise HarnessError("configure() the unit before processing vectors")
        p = check_words(p, self.params.classes, self.params.width)
        m = p.shape[0]
        if m == 0:
            return np.zeros((0, self.classes), dtype=np.int64)
        src = np.ascontiguousarray(p, dtype=np.uint32)
        dst = np.empty_like(src)
        before = self.cycles
        got = self._dll.vu_process(
            self._handle(),
            src.ctypes.data_as(_u32p),
            dst.ctypes.data_as(_u32p),
            m,
            self.classes,
            STALL_LIMIT,
        )
        self.process_cycles += self.cycles - before
        if got == -1:
            raise HarnessError(f"the unit stalled for {STALL_LIMIT} clocks")
        if got < -1:
            raise HarnessError(f"output word {-2 - got} has wrong first/last marks")
        return dst.astype(np.int64)

    @property
    def cycles(self) -> int:
        """Clocks run since this instance was created."""
        return int(self._dll.vu_cycles(self._handle()))

    def status(self) -> dict[str, int]:
        """Counters and flags: vectors_in, vectors_out, rejected, running, locked."""
        buf = (ctypes.c_uint32 * 5)()
        self._dll.vu_status(self._handle(), STATUS_IDLE, buf)
        names = ("vectors_in", "vectors_out", "rejected", "running", "locked")
        return dict(zip(names, (int(x) for x in buf), strict=True))

    def counters(self) -> dict[str, int]:
        """The unit's counters: vectors_in, vectors_out, rejected."""
        s = self.status()
        return {k: s[k] for k in ("vectors_in", "vectors_out", "rejected")}
