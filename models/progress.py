"""Progress bars and per-stage timing for long runs (experiments, the demo story).

``Reporter(console)`` wraps a rich ``Console``; ``reporter.stage(name)`` is a context manager
that times a stage (``reporter.times[name]`` in seconds) and ``reporter.bar(text, total)`` a
context manager yielding an ``advance(n)`` callable for a progress bar. With ``quiet=True``
nothing is printed (tests), timing still works.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Reporter:
    """Console output, progress bars and stage timing (see module doc)."""

    def __init__(self, console: Console | None = None, quiet: bool = False) -> None:
        self.quiet = quiet
        self.console = console or Console(stderr=False, quiet=quiet)
        self.times: dict[str, float] = {}

    def say(self, *objects: object) -> None:
        if not self.quiet:
            self.console.print(*objects)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block; the seconds accumulate in ``times[name]``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - t0

    @contextmanager
    def bar(self, text: str, total: float) -> Iterator[Callable[[float], None]]:
        """A progress bar for ``total`` units; yields ``advance(n)``."""
        if self.quiet:
            yield lambda n: None
            return
        with Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        ) as prog:
            task = prog.add_task(text, total=total)
            yield lambda n: prog.advance(task, n)
