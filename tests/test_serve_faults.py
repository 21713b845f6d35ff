"""Dynamic batching and faults, driven by events and a fake clock, never by timing.

The fake device (``tests.serve_support.Device``) blocks on a gate while requests queue up,
fails chosen calls, and refuses to be re-configured while locked (as a board does)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from dynamarks.host.fixedpoint import to_fixed
from dynamarks.models.server import PredictionServer, ServerConfig
from dynamarks.models.server_batcher import Batcher, BatchError
from dynamarks.models.server_pipeline import UnitSupervisor, UnitUnavailable
from tests.serve_support import (
    SHAPE,
    Device,
    LinearModel,
    expected_answer,
    json_body,
    keystream_words,
    make_params,
    metric,
    run_with_client,
    softmax_oracle,
)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def rows(rng: np.random.Generator, m: int) -> np.ndarray:
    return rng.random((m, *SHAPE), dtype=np.float32)


@pytest.fixture
def parts():
    params = make_params()
    device = Device(params)
    device.gate = threading.Event()
    return params, device, LinearModel()


def started_batcher(model, unit, max_batch=16) -> Batcher:
    b = Batcher(model, unit, max_batch=max_batch, max_delay=0.0)
    b.start()
    return b


def test_queued_requests_form_batches_in_order_and_get_their_own_rows(parts):
    params, device, model = parts
    unit = UnitSupervisor(device.open)
    b = started_batcher(model, unit, max_batch=16)
    rng = np.random.default_rng(0)
    first = rows(rng, 1)
    f0 = b.submit(first)
    assert device.entered.wait(10)  # the worker is inside the unit with the first request
    sizes = [3, 10, 2, 60, 1]
    xs = [rows(rng, m) for m in sizes]
    futures = [b.submit(x) for x in xs]
    device.gate.set()
    results = [f.result(10) for f in (f0, *futures)]
    b.stop()
    # everything was queued when the worker came back: [3, 10, 2] fill 15 of 16, the 60-row
    # request is a batch of its own, the last one follows
    assert [len(p) for p in device.log] == [1, 15, 60, 1]
    words = keystream_words(params, 1 + sum(sizes))
    pos = 0
    for x, got in zip([first, *xs], results, strict=True):
        assert np.array_equal(got, expected_answer(model, params, x, words[pos : pos + len(x)]))
        pos += len(x)
    assert unit.position == pos


def test_a_failed_batch_fails_whole_and_the_unit_resumes_past_it(parts):
    params, device, model = parts
    device.fail_calls = {1}
    device.consume_on_fail = True  # the device consumed the batch, the reply was lost
    clock = FakeClock()
    unit = UnitSupervisor(device.open, retry_interval=1.0, clock=clock)
    b = started_batcher(model, unit)
    rng = np.random.default_rng(1)
    a = rows(rng, 2)
    fa = b.submit(a)
    assert device.entered.wait(10)
    doomed = [b.submit(rows(rng, m)) for m in (1, 4, 3)]  # queued: one batch, call 1
    device.gate.set()
    assert fa.result(10).shape == (2, 10)
    for f in doomed:
        with pytest.raises(BatchError) as err:
            f.result(10)
        assert err.value.status == 503  # no request gets a partial answer
    assert not unit.ready and not b.ready and unit.errors == 1
    written_off = 2 + 8
    assert unit.position == written_off

    # still locked (a board is not re-configurable until reset): 503, nothing consumed
    clock.t = 5.0
    with pytest.raises(BatchError) as err:
        b.submit(rows(rng, 1)).result(10)
    assert err.value.status == 503
    assert device.open_count == 1 and not unit.ready

    # the operator resets the device; the next attempt re-configures and fast-forwards
    device.reset()
    clock.t = 10.0
    x = rows(rng, 3)
    got = b.submit(x).result(10)
    b.stop()
    assert device.open_count == 2
    words = keystream_words(params, written_off + 3)
    # the answer uses positions 10..12: never one that the lost batch may have used
    assert np.array_equal(got, expected_answer(model, params, x, words[written_off:]))
    filler = np.concatenate(device.log[1:-1])
    assert len(filler) == written_off and not filler.any()  # all-zero, unaltered filler


def test_recovery_attempts_follow_the_retry_interval(parts):
    params, device, model = parts
    device.gate.set()
    device.fail_calls = {0}
    clock = FakeClock()
    unit = UnitSupervisor(device.open, retry_interval=1.0, clock=clock)
    with pytest.raises(UnitUnavailable):
        unit.alter(np.full((1, 10), params.one // 10, np.int64))
    device.reset()
    clock.t = 0.5
    assert unit.recover() is False and device.open_count == 1  # too soon: not even tried
    clock.t = 1.0
    assert unit.recover() is True and device.open_count == 2
    assert unit.position == 1


def test_readiness_follows_the_unit_and_a_probe_drives_recovery(parts):
    params, device, model = parts
    device.gate.set()
    device.fail_calls = {0}
    server = PredictionServer(
        model, UnitSupervisor(device.open, retry_interval=0.0),
        ServerConfig(model_name="m", max_delay=0.0),
    )
    server.start()
    x = np.zeros((2, *SHAPE), np.float32)
    body = {"inputs": [{"name": "input", "shape": [2, *SHAPE], "datatype": "FP32",
                        "data": x.ravel().tolist()}]}

    async def scenario(c):
        failed = await c.post("/v2/models/m/infer", json=body)
        not_ready = [await c.get("/v2/health/ready"), await c.get("/v2/models/m/ready")]
        live = await c.get("/v2/health/live")
        m1 = (await c.get("/metrics")).text
        device.reset()  # the device comes back
        ready = await c.get("/v2/health/ready")
        ok = await c.post("/v2/models/m/infer", json=body)
        m2 = (await c.get("/metrics")).text
        return failed, not_ready, live, m1, ready, ok, m2

    try:
        failed, not_ready, live, m1, ready, ok, m2 = run_with_client(server.app, scenario)
    finally:
        server.stop()
    assert failed.status_code == 503 and "unavailable" in json_body(failed)["error"]
    assert [r.status_code for r in not_ready] == [503, 503]
    assert json_body(not_ready[0]) == {"ready": False}
    assert live.status_code == 200
    assert metric(m1, "dynamarks_backend_errors_total") == 1
    assert metric(m1, "dynamarks_ready") == 0
    assert metric(m1, "dynamarks_vectors_total") == 0
    assert ready.status_code == 200
    assert ok.status_code == 200
    words = keystream_words(params, 4)
    got = np.asarray(json_body(ok)["outputs"][0]["data"]).reshape(2, 10)
    assert np.array_equal(got, expected_answer(model, params, x, words[2:]))
    assert metric(m2, "dynamarks_vectors_total") == 2 and metric(m2, "dynamarks_ready") == 1


def test_shutdown_drains_queued_requests_then_refuses(parts):
    params, device, model = parts
    unit = UnitSupervisor(device.open)
    b = started_batcher(model, unit)
    rng = np.random.default_rng(2)
    xs = [rows(rng, m) for m in (1, 2, 3)]
    futures = [b.submit(xs[0])]
    assert device.entered.wait(10)
    futures += [b.submit(x) for x in xs[1:]]
    stopper = threading.Thread(target=b.stop)
    stopper.start()
    device.gate.set()
    stopper.join(10)
    assert not stopper.is_alive()
    words = keystream_words(params, 6)
    pos = 0
    for x, f in zip(xs, futures, strict=True):
        want = expected_answer(model, params, x, words[pos : pos + len(x)])
        assert np.array_equal(f.result(0), want)
        pos += len(x)
    with pytest.raises(BatchError) as err:
        b.submit(xs[0])
    assert err.value.status == 503


def test_a_request_cancelled_while_queued_consumes_nothing(parts):
    params, device, model = parts
    unit = UnitSupervisor(device.open)
    b = started_batcher(model, unit)
    rng = np.random.default_rng(3)
    fa = b.submit(rows(rng, 2))
    assert device.entered.wait(10)
    gone = b.submit(rows(rng, 5))
    assert gone.cancel()  # the client disconnected while waiting
    x = rows(rng, 1)
    fc = b.submit(x)
    device.gate.set()
    fa.result(10)
    got = fc.result(10)
    b.stop()
    assert unit.position == 3
    assert np.array_equal(got, expected_answer(model, params, x, keystream_words(params, 3)[2:]))


def test_a_model_failure_is_500_and_consumes_nothing(parts):
    params, device, model = parts
    device.gate.set()

    class Broken(LinearModel):
        def predict_proba(self, x):
            raise RuntimeError("out of memory")

    unit = UnitSupervisor(device.open)
    b = started_batcher(Broken(), unit)
    with pytest.raises(BatchError) as err:
        b.submit(np.zeros((2, *SHAPE), np.float32)).result(10)
    b.stop()
    assert err.value.status == 500 and unit.position == 0 and device.calls == 0


def test_a_request_the_model_refuses_fails_alone(parts):
    """A model that raises DynamarksError on one request's input (as models.model_file does
    for a NaN output) fails that request with 422; the others in its batch are answered."""
    params, device, model = parts
    from dynamarks.host.errors import DynamarksError

    class Picky(LinearModel):
        def predict_proba(self, x):
            if (x > 100).any():
                raise DynamarksError("the model returned NaN or Inf")
            return super().predict_proba(x)

    picky = Picky()
    unit = UnitSupervisor(device.open)
    b = started_batcher(picky, unit)
    rng = np.random.default_rng(4)
    f0 = b.submit(rows(rng, 1))
    assert device.entered.wait(10)
    xs = [rows(rng, 2), np.full((1, *SHAPE), 1000.0, np.float32), rows(rng, 3)]
    futures = [b.submit(x) for x in xs]
    device.gate.set()
    f0.result(10)
    with pytest.raises(BatchError) as err:
        futures[1].result(10)
    assert err.value.status == 422
    a, c = futures[0].result(10), futures[2].result(10)
    b.stop()
    words = keystream_words(params, 6)
    assert np.array_equal(a, expected_answer(picky, params, xs[0], words[1:3]))
    assert np.array_equal(c, expected_answer(picky, params, xs[2], words[3:6]))
    assert unit.position == 6


def test_stop_without_drain_refuses_the_queue_and_survives_cancelled_requests(parts):
    params, device, model = parts
    unit = UnitSupervisor(device.open)
    b = started_batcher(model, unit)
    rng = np.random.default_rng(5)
    first = b.submit(rows(rng, 1))
    assert device.entered.wait(10)
    queued = [b.submit(rows(rng, 2)) for _ in range(3)]
    assert queued[1].cancel()
    b.stop(drain=False, timeout=0)  # refuse from now on; the worker is still in the unit
    device.gate.set()
    b.stop(drain=False)  # now wait for the worker
    assert first.result(0).shape == (1, 10)
    for f in (queued[0], queued[2]):
        with pytest.raises(BatchError) as err:
            f.result(0)
        assert err.value.status == 503
    assert unit.position == 1


def test_graceful_shutdown_answers_requests_in_flight(parts):
    """uvicorn's shutdown (what SIGTERM triggers) while requests wait on the unit: every one
    of them is answered, then the lifespan drains the batcher and closes the unit."""
    import httpx
    import uvicorn

    from dynamarks.models.server import bind

    params, device, model = parts
    server = PredictionServer(model, UnitSupervisor(device.open),
                              ServerConfig(model_name="m", max_batch=4, max_delay=0.0))
    sock = bind("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/v2/models/m/infer"
    web = uvicorn.Server(uvicorn.Config(server.app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=web.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    submitted, all_in = [], threading.Event()
    submit = server.batcher.submit

    def counting_submit(x):  # an event when all six requests are inside the server
        fut = submit(x)
        submitted.append(fut)
        if len(submitted) == 6:
            all_in.set()
        return fut

    server.batcher.submit = counting_submit
    rng = np.random.default_rng(6)
    xs = [rows(rng, 2) for _ in range(6)]
    replies: dict[int, httpx.Response] = {}

    def client(i: int) -> None:
        body = {"inputs": [{"name": "input", "shape": [2, *SHAPE], "datatype": "FP32",
                            "data": xs[i].astype(np.float64).ravel().tolist()}]}
        for _ in range(600):  # until the server listens (bounded)
            try:
                replies[i] = httpx.post(url, json=body, timeout=60)
                return
            except httpx.ConnectError:
                threading.Event().wait(0.05)

    clients = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for t in clients:
        t.start()
    assert all_in.wait(60)  # one batch is inside the (gated) unit, the others are queued
    web.should_exit = True  # graceful shutdown begins
    device.gate.set()
    for t in clients:
        t.join(60)
    thread.join(60)
    sock.close()
    assert sorted(replies) == list(range(6))
    assert all(r.status_code == 200 for r in replies.values())
    assert server.unit.position == 12 and not server.unit.ready  # drained, then closed
    stream = np.concatenate(device.log)
    words = keystream_words(params, 12)
    for i, r in replies.items():  # each answer is the unit's output where its rows went
        codes = to_fixed(softmax_oracle(model, xs[i]), params.width, params.classes)
        (s,) = [k for k in range(0, 12, 2) if np.array_equal(stream[k : k + 2], codes)]
        got = np.asarray(json_body(r)["outputs"][0]["data"]).reshape(2, 10)
        assert np.array_equal(got, expected_answer(model, params, xs[i], words[s : s + 2]))
