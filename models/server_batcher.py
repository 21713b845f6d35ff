"""Dynamic batching: concurrent requests gathered into one model + unit call by one worker.

Interface::

    b = Batcher(model, unit, max_batch=64, max_delay=0.002, metrics=None)
    b.start()
    fut = b.submit(x)            # x float32[M, C, H, W] -> concurrent.futures.Future
    fut.result() -> float64[M, N]  or raises BatchError(status, reason)
    b.recover() -> Future[bool]  # ask the worker to retry a failed unit
    b.stop(drain=True)           # answers everything queued, then joins the worker

How a batch forms. The worker thread blocks for the first queued request, then keeps taking
requests until the batch holds ``max_batch`` vectors or ``max_delay`` seconds have passed
since the first one; a request that would overflow the batch waits for the next one (a single
request larger than ``max_batch`` is a batch of its own). Whatever is already queued is taken
at once, so with ``max_delay=0`` batching depends only on the queue, never on timing. Latency
added by batching: at most ``max_delay`` plus the batch ahead.

What a batch goes through, in the worker (the only thread that touches the model's
state and the unit, :class:`~dynamarks.models.server_pipeline.UnitSupervisor`):

1. the model on the concatenated rows (float64 softmax rows, request order);
2. requests whose rows are not probability vectors (a model that overflowed on an extreme
   input), or that the model refuses (it raised :class:`DynamarksError`; the batch is then
   re-run request by request to find whose input it was) are refused with 422 *before* the
   unit, so they consume no keystream; a model that fails otherwise is 500;
3. SPEC §2 fixed point, the unit on all remaining rows at once, back to float64;
4. the output is cut back into the requests in the same order: request k gets exactly its
   own rows, in its own order, and consumed exactly len(rows) keystream positions.

A unit failure fails the whole batch with 503 (no request receives a partial answer, none
is retried: its positions are written off, see ``UnitSupervisor``). A model failure is 500.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from dynamarks.host.errors import DynamarksError
from dynamarks.host.fixedpoint import SUM_TOLERANCE, to_fixed, to_float
from dynamarks.models.server_pipeline import ServedModel, UnitSupervisor, UnitUnavailable

log = logging.getLogger("dynamarks.serve")


class BatchError(Exception):
    """A request the batch could not answer: HTTP ``status`` and a one-line ``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class _Job:
    x: np.ndarray
    future: Future = field(default_factory=Future)


@dataclass
class _Recover:
    future: Future = field(default_factory=Future)


_STOP = object()


def _refuse(job: _Job) -> None:
    """Fail a job that will not run (unless its client already cancelled it)."""
    if job.future.set_running_or_notify_cancel():
        job.future.set_exception(BatchError(503, "the server is shutting down"))


class Batcher:
    """See the module doc. ``metrics`` is a :class:`ServerMetrics` or None."""

    def __init__(
        self,
        model: ServedModel,
        unit: UnitSupervisor,
        *,
        max_batch: int = 64,
        max_delay: float = 0.002,
        metrics=None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.model = model
        self.unit = unit
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.metrics = metrics
        self._clock = clock
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._carry: object | None = None
        self._lock = threading.Lock()
        self._stopping = False
        self._drain = True
        self._recovering: _Recover | None = None
        self._thread = threading.Thread(target=self._run, name="dynamarks-batcher", daemon=True)
        self._errors_seen = unit.errors

    # ---- called from any thread ------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    @property
    def ready(self) -> bool:
        return not self._stopping and self.unit.ready

    def submit(self, x: np.ndarray) -> Future:
        """Queue ``x`` (float32[M, ...], already validated); the future gets float64[M, N]."""
        with self._lock:
            if self._stopping:
                raise BatchError(503, "the server is shutting down")
            job = _Job(x)
            self._queue.put(job)
        return job.future

    def recover(self) -> Future:
        """Ask the worker to retry a failed unit; one request at a time is in flight."""
        with self._lock:
            if self._recovering is not None and not self._recovering.future.done():
                return self._recovering.future
            if self._stopping:
                done: Future = Future()
                done.set_result(False)
                return done
            self._recovering = _Recover()
            self._queue.put(self._recovering)
            return self._recovering.future

    def stop(self, drain: bool = True, timeout: float | None = None) -> None:
        """Refuse new requests; answer the queued ones (``drain``) or fail them with 503."""
        with self._lock:
            self._stopping = True
            self._drain = drain
            self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)

    # ---- the worker --------------------------------------------------------------------

    def _next(self, timeout: float | None) -> object:
        if self._carry is not None:
            item, self._carry = self._carry, None
            return item
        if timeout is None:
            return self._queue.get()
        if timeout <= 0:
            return self._queue.get_nowait()
        return self._queue.get(timeout=timeout)

    def _run(self) -> None:
        while True:
            item = self._next(None)
            if item is _STOP:
                break
            if isinstance(item, _Recover):
                self._do_recover(item)
                continue
            assert isinstance(item, _Job)
            if self._stopping and not self._drain:
                _refuse(item)
                continue
            if not item.future.set_running_or_notify_cancel():
                continue  # the client went away before its turn: nothing consumed
            batch, rows = [item], len(item.x)
            deadline = self._clock() + self.max_delay
            while rows < self.max_batch:
                try:
                    nxt = self._next(deadline - self._clock())
                except queue.Empty:
                    break
                if not isinstance(nxt, _Job) or rows + len(nxt.x) > self.max_batch:
                    self._carry = nxt
                    break
                if nxt.future.set_running_or_notify_cancel():
                    batch.append(nxt)
                    rows += len(nxt.x)
            self._process(batch)
        # after _STOP: nothing else can be queued (submit refuses); fail any stragglers
        while True:
            try:
                item = self._next(0)
            except queue.Empty:
                break
            if isinstance(item, _Job):
                _refuse(item)
            elif isinstance(item, _Recover):
                item.future.set_result(False)

    def _do_recover(self, item: _Recover) -> None:
        try:
            item.future.set_result(self.unit.recover())
        except Exception as exc:  # noqa: BLE001
            item.future.set_exception(exc)
        self._observe_unit()

    def _process(self, batch: list[_Job]) -> None:
        try:
            self._process_unchecked(batch)
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the worker
            log.exception("batch failed unexpectedly")
            for job in batch:
                if not job.future.done():
                    reason = f"internal error: {type(exc).__name__}"
                    job.future.set_exception(BatchError(500, reason))
        self._observe_unit()

    def _process_unchecked(self, batch: list[_Job]) -> None:
        classes = self.unit.classes
        x = batch[0].x if len(batch) == 1 else np.concatenate([j.x for j in batch])
        try:
            probs = self._predict(x)
        except Exception:  # noqa: BLE001 - find out whose input it was, request by request
            parts = []
            for job in batch:
                try:
                    parts.append(self._predict(job.x))
                except Exception as exc:  # noqa: BLE001
                    parts.append(np.full((len(job.x), classes), np.nan))
                    if isinstance(exc, DynamarksError):  # the model refuses this input
                        log.info("the model refused an input: %s", type(exc).__name__)
                    else:
                        log.error("the model failed: %s", type(exc).__name__)
                        job.future.set_exception(BatchError(500, "the model failed"))
            probs = np.concatenate(parts)
        good_rows = (
            np.isfinite(probs).all(axis=1)
            & (probs >= 0).all(axis=1)
            & (np.abs(probs.sum(axis=1) - 1.0) <= SUM_TOLERANCE)
        )
        keep: list[tuple[_Job, int]] = []  # (job, start row in probs)
        start = 0
        for job in batch:
            m = len(job.x)
            if job.future.done():  # already failed above
                pass
            elif good_rows[start : start + m].all():
                keep.append((job, start))
            else:
                job.future.set_exception(
                    BatchError(422, "the model's output is not a probability vector for this "
                               "input (values outside the model's range?)")
                )
            start += m
        if not keep:
            return
        if len(keep) == len(batch):
            p = probs
        else:
            p = np.concatenate([probs[s : s + len(j.x)] for j, s in keep])
        codes = to_fixed(p, self.unit.width, classes)
        try:
            out = to_float(self.unit.alter(codes), self.unit.width)
        except UnitUnavailable:
            for job, _ in keep:
                job.future.set_exception(BatchError(503, "the watermark unit is unavailable"))
            return
        if self.metrics is not None:
            self.metrics.batch(len(out))
        at = 0
        for job, _ in keep:
            m = len(job.x)
            job.future.set_result(out[at : at + m])
            at += m

    def _predict(self, x: np.ndarray) -> np.ndarray:
        probs = np.asarray(self.model.predict_proba(x), dtype=np.float64)
        if probs.shape != (len(x), self.unit.classes):
            raise ValueError(f"the model returned shape {probs.shape} for {len(x)} rows")
        return probs

    def _observe_unit(self) -> None:
        if self.metrics is None:
            return
        new = self.unit.errors - self._errors_seen
        if new:
            self.metrics.backend_errors.inc(new)
            self._errors_seen = self.unit.errors
        self.metrics.ready.set(1 if self.ready else 0)
