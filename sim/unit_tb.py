"""Test bench for the WatermarkUnit: the TB class and the scoreboard (cocotbext-axi style).

:class:`UnitTB` wraps the DUT: a 100 MHz clock, reset, the config port (:meth:`configure`
writes the parameter set, strobes ``config.start``, waits for ``config.running``,
optionally strobes ``config.lock``), a :class:`~dynamarks.sim.stream.StreamSource` on
``sink`` (random idle gaps) and a :class:`~dynamarks.sim.stream.StreamSink` on ``source``
(random back-pressure); both report every transfer to the scoreboard.

:class:`UnitScoreboard` is the independent check. From the words the DUT *accepted* it
rebuilds the vectors with SPEC §10's framing rules (wrong word count or missing ``first`` →
dropped and counted), runs the complete ones through
:class:`dynamarks.host.reference.ReferenceUnit` — so keystream position is checked too — and
compares EVERY output word, its ``first``/``last`` marks and the order. It also measures, per
vector, the latency from the first input word accepted to the first output word delivered.

Framing (SPEC §10, made precise by rtl/unit.py's docstring), each case counted once:

* a word with ``first`` always starts a new vector; a vector in progress is rejected;
* a word without ``first`` when no vector is in progress is rejected, and the words after
  it are dropped up to and including the next ``last`` (or until a ``first``);
* ``last`` before word N−1 rejects the vector; word N−1 without ``last`` rejects it, and
  the words after it are dropped the same way.
"""

from __future__ import annotations

import random
from collections import deque

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, Timer

from dynamarks.host.params import Params
from dynamarks.host.reference import ReferenceUnit
from dynamarks.sim.designs import PORTS, config_writes, payload_fields
from dynamarks.sim.stream import CycleLoop, StreamBus, StreamSink, StreamSource

CLOCK_NS = 10
MAX_ERRORS = 20  # mismatch messages kept (all are counted)


class UnitScoreboard:
    """Reference-model scoreboard of one configured unit (see the module docstring)."""

    def __init__(self, params: Params, fields: dict[str, tuple[int, int]]) -> None:
        self.params = params
        self.n = params.classes
        self.model = ReferenceUnit(params)
        self._dmask = (1 << fields["data"][1]) - 1
        self._fshift, self._lshift = fields["first"][0], fields["last"][0]
        self._dshift = fields["data"][0]
        # input side
        self._cur: list[int] = []
        self._cur_cycle = 0
        self._hunting = False
        self._pending: list[list[int]] = []
        self._in_cycles: deque[int] = deque()
        # output side
        self._expected: deque[tuple[np.ndarray, np.ndarray]] = deque()
        self._out: list[int] = []
        self._out_cycle = 0
        # results
        self.vectors_in = 0
        self.vectors_out = 0
        self.rejected = 0
        self.words_checked = 0
        self.altered = 0
        self.error_count = 0
        self.errors: list[str] = []
        self.latencies: list[int] = []
        self.out_cycles: list[int] = []

    def _error(self, msg: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(msg)

    def _split(self, word: int) -> tuple[int, bool, bool]:
        return (
            (word >> self._dshift) & self._dmask,
            bool((word >> self._fshift) & 1),
            bool((word >> self._lshift) & 1),
        )

    # ---- input side: SPEC §10 framing ----------------------------------------------------

    def on_input(self, cycle: int, word: int) -> None:
        data, first, last = self._split(word)
        if first:
            if self._cur:
                self.rejected += 1  # cut short by a new `first`
            self._cur, self._hunting = [], False
        elif self._hunting:
            self._hunting = not last  # dropped silently until `last` (or a `first`)
            return
        elif not self._cur:
            self.rejected += 1  # word 0 without `first`
            self._hunting = not last
            return
        if not self._cur:
            self._cur_cycle = cycle
        self._cur.append(data)
        count = len(self._cur)
        if last and count != self.n:
            self.rejected += 1  # too few words
            self._cur = []
        elif not last and count == self.n:
            self.rejected += 1  # too many words: drop the rest
            self._cur, self._hunting = [], True
        elif last:
            self._pending.append(self._cur)
            self._in_cycles.append(self._cur_cycle)
            self._cur = []
            self.vectors_in += 1

    # ---- output side: compare every word ---------------------------------------------------

    def _refill(self) -> None:
        if not self._pending:
            return
        p = np.asarray(self._pending, dtype=np.int64)
        self._pending = []
        detail = self.model.process_detailed(p)
        self.altered += int(detail.altered.sum())
        for k in range(len(p)):
            self._expected.append((detail.out[k], p[k]))

    def on_output(self, cycle: int, word: int) -> None:
        data, first, last = self._split(word)
        k = len(self._out)
        if first != (k == 0) or last != (k == self.n - 1):
            self._error(
                f"output vector {self.vectors_out} word {k}: first={int(first)} last={int(last)}"
            )
        if k == 0:
            self._out_cycle = cycle
        self._out.append(data)
        if len(self._out) < self.n:
            return
        got, self._out = self._out, []
        if not self._expected:
            self._refill()
        if not self._expected:
            self._error(f"output vector {self.vectors_out} with no input vector to match")
            return
        want, given = self._expected.popleft()
        self.latencies.append(self._out_cycle - self._in_cycles.popleft())
        self.out_cycles.append(cycle)
        self.words_checked += self.n
        if list(want) != got:
            self._error(
                f"vector {self.vectors_out} (keystream position {self.vectors_out}): "
                f"in {given.tolist()} expected {want.tolist()} got {got}"
            )
        self.vectors_out += 1

    @property
    def outstanding(self) -> int:
        """Complete input vectors whose output has not been seen yet."""
        return len(self._pending) + len(self._expected)


class UnitTB:
    """The WatermarkUnit bench: clock, reset, config port, stream agents and scoreboard."""

    def __init__(
        self,
        dut,
        classes: int,
        width: int,
        seed: int,
        idle: float = 0.0,
        backpressure: float = 0.0,
    ) -> None:
        self.dut = dut
        self.n, self.w = classes, width
        self.one = 1 << (width - 1)
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.fields = payload_fields(classes, width)
        self.in_bus = StreamBus(dut, "sink", self.fields)
        self.out_bus = StreamBus(dut, "source", self.fields)
        self.source = StreamSource(self.in_bus, self.rng, idle)
        self.source.on_accept.append(self._on_input)
        self.sink = StreamSink(self.out_bus, self.rng, self._on_output, backpressure)
        self.scoreboard: UnitScoreboard | None = None
        self.loop = CycleLoop(dut.clk, [self.source, self.sink])
        self.scoreboards: list[UnitScoreboard] = []  # one per configuration, for the totals
        self.port = {k: getattr(dut, v) for k, v in PORTS.items() if hasattr(dut, v)}
        for name in ("we", "start", "lock", "addr", "data"):
            self.port[name].value = 0
        dut.rst.value = 1
        Clock(dut.clk, CLOCK_NS, unit="ns").start()
        self._loop_started = False

    # ---- monitors -> scoreboard -----------------------------------------------------------

    def _on_input(self, cycle: int, word: int) -> None:
        if self.scoreboard is None:
            raise AssertionError("the unit accepted a word before it was configured")
        self.scoreboard.on_input(cycle, word)

    def _on_output(self, cycle: int, word: int) -> None:
        if self.scoreboard is None:
            raise AssertionError("the unit produced a word before it was configured")
        self.scoreboard.on_output(cycle, word)

    # ---- control ----------------------------------------------------------------------------

    @property
    def cycle(self) -> int:
        return self.loop.cycle

    async def cycles(self, n: int) -> None:
        await self.loop.cycles(n)

    async def reset(self, cycles: int = 3) -> None:
        """Hold ``rst`` for ``cycles`` clocks, dropping everything in flight."""
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 1
        for agent in self.loop.agents:
            agent.reset()
        self.sink.paused = True
        self.sink.strict = False  # the DUT may drop valid while in reset
        for _ in range(cycles):
            await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0
        self.sink.paused = False
        self.sink.reset()
        self.sink.strict = True
        self.scoreboard = None
        if not self._loop_started:
            import cocotb

            cocotb.start_soon(self.loop.run())
            self._loop_started = True

    async def write_config(self, writes: list[tuple[int, int]], start: bool = True) -> None:
        """Perform the ``(address, word)`` writes and strobe ``start`` (no waiting)."""
        port = self.port
        for addr, word in writes:
            await FallingEdge(self.dut.clk)
            port["addr"].value = addr
            port["data"].value = word
            port["we"].value = 1
        await FallingEdge(self.dut.clk)
        port["we"].value = 0
        if start:
            port["start"].value = 1
            await FallingEdge(self.dut.clk)
            port["start"].value = 0

    async def strobe(self, name: str) -> None:
        """One-clock pulse on config port ``name`` (``start``, ``lock``)."""
        await FallingEdge(self.dut.clk)
        self.port[name].value = 1
        await FallingEdge(self.dut.clk)
        self.port[name].value = 0

    def flag(self, name: str) -> int | None:
        """Status output ``running`` or ``locked``."""
        handle = self.port.get(name)
        return None if handle is None else int(handle.value)

    async def configure(self, params: Params, lock: bool = False, timeout: int = 5000) -> int:
        """Write the parameter set, start the keystream, wait for ``running``; returns the
        cycles from ``start`` to ``running``. A fresh scoreboard checks what follows."""
        if params.classes != self.n or params.width != self.w:
            raise ValueError("parameter set does not match the unit's N and W")
        self.scoreboard = UnitScoreboard(params, self.fields)
        self.scoreboards.append(self.scoreboard)
        await self.write_config(config_writes(params))
        started = self.cycle
        await self.wait_for(lambda: self.flag("running") == 1, timeout, "running after start")
        warmup = self.cycle - started
        if lock:
            await self.strobe("lock")
        return warmup

    async def wait_for(self, cond, timeout: int, what: str, poll: int = 1) -> None:
        """Wait until ``cond()`` holds at a ReadOnly point, checking every ``poll`` cycles
        (polling with one timer, not a wake-up per clock, keeps long waits cheap)."""
        step = FallingEdge(self.dut.clk) if poll == 1 else Timer(poll * CLOCK_NS, unit="ns")
        for _ in range(0, timeout, poll):
            await step
            await ReadOnly()
            if cond():
                return
        raise AssertionError(f"timed out after {timeout} cycles waiting for {what}; {self.probe()}")

    def probe(self) -> str:
        """The handshake and status outputs as the simulator shows them (X/Z included, which
        the agents' integer reads would turn into 0)."""
        names = ["sink__valid", "sink__ready", "source__valid", "source__ready"]
        names += [PORTS[k] for k in ("running", "locked")]
        return " ".join(f"{n}={getattr(self.dut, n).value}" for n in names)

    # ---- stimulus ---------------------------------------------------------------------------

    def pack_vectors(self, p: np.ndarray) -> list[int]:
        """Words (with first/last) of vectors p[M, N], in stream order."""
        p = np.asarray(p, dtype=np.int64)
        m, n = p.shape
        first = np.zeros((m, n), dtype=np.int64)
        first[:, 0] = 1
        last = np.zeros((m, n), dtype=np.int64)
        last[:, -1] = 1
        d, f, ll = (self.fields[k][0] for k in ("data", "first", "last"))
        return ((p << d) | (first << f) | (last << ll)).ravel().tolist()

    def send(self, p: np.ndarray) -> None:
        """Queue well-framed vectors p[M, N]."""
        self.source.send(self.pack_vectors(p))

    def send_words(self, words: list[tuple[int, int, int]]) -> None:
        """Queue raw (data, first, last) words — for malformed framing."""
        self.source.send(self.in_bus.pack(data=d, first=f, last=ll) for d, f, ll in words)

    async def drain(self, timeout: int | None = None) -> None:
        """Wait until every queued word was taken and every accepted vector came out."""
        sb = self.scoreboard
        queued = len(self.source.queue)
        timeout = timeout or 200 + 50 * (queued + self.n * (sb.outstanding if sb else 0))

        def done() -> bool:
            return self.source.idle_now and (sb is None or sb.outstanding == 0)

        await self.wait_for(done, timeout, "the unit to drain", poll=16)
        await self.cycles(self.n + 10)  # nothing more may come out

    # ---- checks -----------------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        return {
            k: int(getattr(self.dut, k).value) for k in ("vectors_in", "vectors_out", "rejected")
        }

    def check(self) -> None:
        """Raise AssertionError on any mismatch, protocol error or counter disagreement."""
        sb = self.scoreboard
        errors = list(self.sink.errors)
        if sb is not None:
            errors += sb.errors
            if sb.error_count > len(sb.errors):
                errors.append(f"... {sb.error_count - len(sb.errors)} more mismatches")
            got = self.counters()
            want = {
                "vectors_in": sb.vectors_in,
                "vectors_out": sb.vectors_out,
                "rejected": sb.rejected,
            }
            if got != want:
                errors.append(f"counters {got} != scoreboard {want}")
            if sb.outstanding:
                errors.append(f"{sb.outstanding} accepted vectors never came out")
        if errors:
            raise AssertionError("\n".join(errors))

    def totals(self) -> dict[str, int]:
        """Sums over every configuration this bench ran."""
        sbs = self.scoreboards
        return {
            "vectors": sum(s.vectors_out for s in sbs),
            "words_checked": sum(s.words_checked for s in sbs),
            "altered": sum(s.altered for s in sbs),
            "rejected": sum(s.rejected for s in sbs),
        }
