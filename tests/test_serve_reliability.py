"""Reliability under concurrency: 16 clients x 200 requests, about one in five bad, through
the real HTTP app (in process, no sockets) with dynamic batching.

Checked against the independent oracle (``tests.serve_support``): every good request is
answered exactly once with exactly its own rows, in order, each row being the unit's output
at the keystream position the request occupied; the requests' positions tile 0..P-1 with no
gap and no overlap (so refused requests consumed none); every bad request is refused with
its status; ``dynamarks_vectors_total`` equals the vectors answered. Nothing here depends on
timing: batch composition varies from run to run, and the checks hold for any composition.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np

from dynamarks.host.fixedpoint import to_fixed, to_float
from dynamarks.models.server import PredictionServer, ServerConfig
from dynamarks.models.server_pipeline import UnitSupervisor
from tests.serve_support import (
    SHAPE,
    Device,
    LinearModel,
    expected_answer,
    infer_body,
    keystream_words,
    make_params,
    metric,
    run_with_client,
    softmax_oracle,
)

CLIENTS, REQUESTS, BAD_SHARE = 16, 200, 0.2
URL = "/v2/models/m/infer"
LIMIT = 8_000  # bytes; a good request (<= 4 rows of 16 numbers) is far below


def bad_request(kind: int, x: np.ndarray) -> tuple[str, bytes, int]:
    """(url, body, expected status) of one of seven kinds of bad request."""
    doc = infer_body(x)
    t = doc["inputs"][0]
    if kind == 0:
        t["data"][0] = float("nan")
        return URL, json.dumps(doc).encode(), 422
    if kind == 1:
        t["shape"] = [len(x), 2, 4, 4]
        return URL, json.dumps(doc).encode(), 422
    if kind == 2:
        t["datatype"] = "INT32"
        return URL, json.dumps(doc).encode(), 422
    if kind == 3:
        return URL, json.dumps(doc).encode()[:-7], 400
    if kind == 4:
        t["data"] = t["data"][:-1]
        return URL, json.dumps(doc).encode(), 422
    if kind == 5:
        return "/v2/models/nope/infer", json.dumps(doc).encode(), 404
    return URL, b"[" + b"0.5," * (LIMIT // 4) + b"0.5]", 413


def test_16_clients_x_200_requests_every_good_one_answered_exactly_once():
    params = make_params(11)
    device = Device(params)
    model = LinearModel(seed=3)
    server = PredictionServer(
        model, UnitSupervisor(device.open),
        ServerConfig(model_name="m", max_batch=32, max_delay=0.001, max_body_bytes=LIMIT),
    )
    rng = np.random.default_rng(2026)
    plan = []  # per client: list of (x, url, body, expected status, good)
    for _ in range(CLIENTS):
        reqs = []
        for _ in range(REQUESTS):
            x = rng.random((int(rng.integers(1, 5)), *SHAPE), dtype=np.float32)
            if rng.random() < BAD_SHARE:
                url, body, status = bad_request(int(rng.integers(0, 7)), x)
                reqs.append((x, url, body, status, False))
            else:
                reqs.append((x, URL, json.dumps(infer_body(x)).encode(), 200, True))
        plan.append(reqs)

    async def client(c, reqs):
        out = []
        for _, url, body, _, _ in reqs:
            r = await c.post(url, content=body, headers={"content-type": "application/json"})
            out.append(r)
        return out

    async def scenario(c):
        replies = await asyncio.gather(*(client(c, reqs) for reqs in plan))
        return replies, (await c.get("/metrics")).text

    server.start()
    try:
        replies, metrics_text = run_with_client(server.app, scenario)
    finally:
        server.stop()

    # 1. statuses: every good request answered, every bad one refused as it should be
    good: list[tuple[np.ndarray, np.ndarray]] = []
    refused = 0
    for reqs, rs in zip(plan, replies, strict=True):
        for (x, _, _, status, is_good), r in zip(reqs, rs, strict=True):
            assert r.status_code == status, r.text
            if is_good:
                out = json.loads(r.content)["outputs"][0]
                assert out["shape"] == [len(x), 10]
                good.append((x, np.asarray(out["data"]).reshape(len(x), 10)))
            else:
                assert "error" in json.loads(r.content)
                refused += 1
    assert refused > 0.1 * CLIENTS * REQUESTS

    # 2. where each good request sat in the keystream: its rows, contiguous, in the stream
    #    of vectors the device consumed
    stream = np.concatenate(device.log)
    total = sum(len(x) for x, _ in good)
    assert len(stream) == total == server.unit.position  # nothing else consumed keystream
    index: dict[bytes, list[int]] = {}
    for pos, row in enumerate(stream):
        index.setdefault(row.tobytes(), []).append(pos)
    words = keystream_words(params, total)
    covered = np.zeros(total, dtype=int)
    altered = 0
    for x, got in good:
        codes = to_fixed(softmax_oracle(model, x), params.width, params.classes)
        starts = [s for s in index.get(codes[0].tobytes(), [])
                  if np.array_equal(stream[s : s + len(x)], codes)]
        assert len(starts) == 1, "a request's rows are not exactly once, contiguous, in order"
        s = starts[0]
        covered[s : s + len(x)] += 1
        # 3. the answer is the unit's output at exactly those positions
        assert np.array_equal(got, expected_answer(model, params, x, words[s : s + len(x)]))
        altered += int((got != to_float(codes, params.width)).any(axis=1).sum())
    assert (covered == 1).all()  # positions tile 0..P-1: no gap, no overlap
    assert altered > 0  # the keystream mattered: some answers were watermarked

    # 4. the counters agree
    assert metric(metrics_text, "dynamarks_vectors_total") == total
    answered = sum(1 for reqs in plan for r in reqs if r[4])
    assert f'dynamarks_requests_total{{code="200",endpoint="infer"}} {float(answered)}' in (
        metrics_text
    )
    assert metric(metrics_text, "dynamarks_batch_size_sum") == total
