"""cocotb agents for Amaranth ``lib.stream`` ports: a source driver and a sink driver.

An Amaranth stream port ``x`` with a ``StructLayout`` payload appears in the generated Verilog
as ``x__valid``, ``x__ready`` and one flat ``x__payload`` vector; :class:`StreamBus` holds the
three handles and packs payload fields by their layout offsets.

All agents run off one :class:`CycleLoop` rather than a coroutine each: per clock the loop
awaits the falling edge, lets every agent *drive* its inputs, awaits ``ReadOnly`` and lets
every agent *sample* the settled signals. A transfer happens at the next rising edge exactly
when ``valid`` and ``ready`` are both high at that ``ReadOnly`` point (nothing changes between
it and the edge), so the agents know every handshake without a second trigger. One loop with
two triggers per clock is what makes 10⁶-cycle benches affordable.

* :class:`StreamSource` — drives ``valid``/``payload`` into a DUT sink from a queue of words,
  with random idle cycles (``idle`` = probability of holding ``valid`` low);
* :class:`StreamSink` — takes words from a DUT source, driving ``ready`` with random
  back-pressure (``backpressure`` = probability of holding ``ready`` low).

The source and sink know what they drive, so per clock they read only what the DUT drives
(``ready`` of its sink; ``valid`` and, when valid, ``payload`` of its source).

Protocol rules: the source never drops ``valid`` or changes ``payload`` while a word is
offered and not taken (the AXI-stream rule, stricter than Amaranth's streams need); the sink
flags a DUT source that does either under back-pressure.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable

from cocotb.triggers import FallingEdge, ReadOnly


class Port:
    """Integer access to one signal of at most 32 bits: ``get() -> int``, ``set(int)``.

    cocotb's ``handle.value`` builds a ``LogicArray`` from a bit string on every read
    (3–5 µs, most of a bench's time); this goes straight to the GPI object's integer calls.
    Writes are immediate (deposit): the agents write only at the falling edge, where nothing
    in a rising-edge design samples them, so there is no race to schedule around. Unknown
    bits read as 0. Falls back to the public API for wider signals.
    """

    __slots__ = ("get", "set", "handle")

    def __init__(self, handle) -> None:
        self.handle = handle
        raw = getattr(handle, "_handle", None)
        width = len(handle)
        if raw is not None and width <= 32 and hasattr(raw, "get_signal_val_long"):
            mask = (1 << width) - 1
            get_long, set_int = raw.get_signal_val_long, raw.set_signal_val_int
            self.get = lambda: get_long() & mask
            self.set = lambda v: set_int(0, v)  # 0: GPI "deposit"
        else:
            self.get = lambda: int(handle.value)

            def _set(v: int) -> None:
                handle.value = v

            self.set = _set


class StreamBus:
    """Ports of stream ``prefix`` of ``dut`` (``valid``, ``ready``, ``payload``, each a
    :class:`Port`) and its payload layout.

    ``fields`` maps field name -> (offset, width) in the flat payload, e.g. from
    :func:`layout_fields`.
    """

    def __init__(self, dut, prefix: str, fields: dict[str, tuple[int, int]]) -> None:
        self.valid = Port(getattr(dut, f"{prefix}__valid"))
        self.ready = Port(getattr(dut, f"{prefix}__ready"))
        self.payload = Port(getattr(dut, f"{prefix}__payload"))
        self.fields = fields
        self.name = prefix

    def pack(self, **values: int) -> int:
        word = 0
        for name, (off, width) in self.fields.items():
            v = int(values.get(name, 0))
            if not 0 <= v < 1 << width:
                raise ValueError(f"{self.name}.{name} = {v} does not fit in {width} bits")
            word |= v << off
        return word


def layout_fields(layout) -> dict[str, tuple[int, int]]:
    """(offset, width) of each field of an Amaranth ``data.StructLayout``."""
    return {name: (f.offset, f.width) for name, f in layout}


class Agent:
    """Something the :class:`CycleLoop` calls twice per clock."""

    def drive(self, cycle: int) -> None:
        """Falling edge: set the inputs for the next rising edge."""

    def sample(self, cycle: int) -> None:
        """ReadOnly after the falling edge: observe what the next rising edge will do."""

    def reset(self) -> None:
        """Forget in-flight state (the DUT was reset)."""


class CycleLoop:
    """Runs agents once per clock: drive at the falling edge, sample at ReadOnly."""

    def __init__(self, clk, agents: Iterable[Agent] = ()) -> None:
        self.clk = clk
        self.agents: list[Agent] = list(agents)
        self.cycle = 0

    async def run(self) -> None:
        falling, readonly = FallingEdge(self.clk), ReadOnly()
        agents = self.agents
        while True:
            await falling
            self.cycle += 1
            for a in agents:
                a.drive(self.cycle)
            await readonly
            for a in agents:
                a.sample(self.cycle)

    async def cycles(self, n: int) -> None:
        """Wait n falling edges (for test code running beside the loop)."""
        falling = FallingEdge(self.clk)
        for _ in range(n):
            await falling


class StreamSource(Agent):
    """Offers queued payload words on ``bus`` (a DUT sink); random idle gaps.

    ``on_accept(cycle, word)`` is called for every word the DUT takes.
    """

    def __init__(self, bus: StreamBus, rng: random.Random, idle: float = 0.0) -> None:
        self.bus = bus
        self.rng = rng
        self.idle = idle
        self.queue: deque[int] = deque()
        self.on_accept: list[Callable[[int, int], None]] = []
        self.accepted = 0
        self._offer: int | None = None  # word currently offered (valid high)
        self._valid = False
        bus.valid.set(0)
        bus.payload.set(0)

    def send(self, words: Iterable[int]) -> None:
        self.queue.extend(words)

    @property
    def idle_now(self) -> bool:
        """Nothing queued and nothing offered."""
        return not self.queue and self._offer is None

    def drive(self, cycle: int) -> None:
        if self._offer is None and self.queue:
            if self.idle and self.rng.random() < self.idle:
                if self._valid:
                    self.bus.valid.set(0)
                    self._valid = False
                return
            self._offer = self.queue.popleft()
            self.bus.payload.set(self._offer)
        want = self._offer is not None
        if want != self._valid:
            self.bus.valid.set(int(want))
            self._valid = want

    def sample(self, cycle: int) -> None:
        if self._valid and self.bus.ready.get():
            word = self._offer
            self._offer = None
            self.accepted += 1
            for cb in self.on_accept:
                cb(cycle, word)

    def reset(self) -> None:
        self.queue.clear()
        self._offer = None
        self._valid = False
        self.bus.valid.set(0)


class StreamSink(Agent):
    """Takes words from ``bus`` (a DUT source): drives ``ready`` with random back-pressure and
    calls ``callback(cycle, word)`` for every transfer (like cocotbext-axi's sink, it is both
    the driver of ``ready`` and the receiver).

    ``errors`` collects protocol violations by the DUT: a payload that changes, or ``valid``
    that drops, while a word waits under back-pressure.
    """

    def __init__(
        self,
        bus: StreamBus,
        rng: random.Random,
        callback: Callable[[int, int], None],
        backpressure: float = 0.0,
    ) -> None:
        self.bus = bus
        self.rng = rng
        self.callback = callback
        self.backpressure = backpressure
        self.paused = False  # hold ready low (tests use it to stall the output)
        self.strict = True
        self.errors: list[str] = []
        self._ready: bool | None = None
        self._waiting: int | None = None

    def drive(self, cycle: int) -> None:
        r = not self.paused and not (self.backpressure and self.rng.random() < self.backpressure)
        if r != self._ready:
            self.bus.ready.set(int(r))
            self._ready = r

    def sample(self, cycle: int) -> None:
        if not self.bus.valid.get():
            if self._waiting is not None and self.strict:
                self.errors.append(f"cycle {cycle}: {self.bus.name}.valid dropped before ready")
            self._waiting = None
            return
        word = self.bus.payload.get()
        if self.strict and self._waiting is not None and word != self._waiting:
            self.errors.append(f"cycle {cycle}: {self.bus.name}.payload changed before ready")
        if self._ready:
            self._waiting = None
            self.callback(cycle, word)
        else:
            self._waiting = word

    def reset(self) -> None:
        self._ready = None
        self._waiting = None
