"""The prediction server's HTTP surface: OIP v2 endpoints, answers checked bit for bit against
the independent oracle, every kind of bad request refused with nothing consumed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dynamarks.models.server import PredictionServer, ServerConfig
from dynamarks.models.server_pipeline import UnitSupervisor
from tests.serve_support import (
    SHAPE,
    Device,
    LinearModel,
    expected_answer,
    infer_body,
    json_body,
    keystream_words,
    make_params,
    metric,
    run_with_client,
)

URL = "/v2/models/m/infer"


@pytest.fixture
def setup():
    params = make_params()
    device = Device(params)
    model = LinearModel()
    server = PredictionServer(
        model, UnitSupervisor(device.open),
        ServerConfig(model_name="m", max_batch=16, max_delay=0.0, max_body_bytes=20_000,
                     max_rows=64),
    )
    server.start()
    yield server, device, model, params
    server.stop()


def test_health_and_metadata(setup):
    server, *_ = setup

    async def body(c):
        return [await c.get(p) for p in (
            "/v2/health/live", "/v2/health/ready", "/v2/models/m", "/v2/models/m/ready",
            "/v2/models/m/versions/1", "/v2/models/other", "/v2/models/other/ready",
            "/v2/models/m/versions/2", "/nowhere",
        )]

    r = run_with_client(server.app, body)
    assert [x.status_code for x in r] == [200, 200, 200, 200, 200, 404, 404, 404, 404]
    assert json_body(r[1]) == {"ready": True}
    assert json_body(r[3]) == {"name": "m", "ready": True}
    meta = json_body(r[2])
    assert meta["name"] == "m"
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, *SHAPE]}]
    assert meta["outputs"] == [{"name": "probabilities", "datatype": "FP64", "shape": [-1, 10]}]
    for bad in r[5:]:
        assert set(json_body(bad)) == {"error"}


def test_answers_are_the_unit_on_the_models_softmax(setup):
    """Sequential requests occupy consecutive keystream positions, rows in order."""
    server, device, model, params = setup
    rng = np.random.default_rng(1)
    xs = [rng.random((m, *SHAPE), dtype=np.float32) for m in (1, 3, 7, 2)]

    async def body(c):
        out = []
        for i, x in enumerate(xs):
            r = await c.post(URL, json={"id": f"r{i}", **infer_body(x)})
            out.append(r)
        return out

    replies = run_with_client(server.app, body)
    words = keystream_words(params, sum(len(x) for x in xs))
    pos = 0
    for i, (x, r) in enumerate(zip(xs, replies, strict=True)):
        assert r.status_code == 200, r.text
        doc = json_body(r)
        assert doc["id"] == f"r{i}" and doc["model_name"] == "m"
        (out,) = doc["outputs"]
        assert out["name"] == "probabilities" and out["datatype"] == "FP64"
        assert out["shape"] == [len(x), 10]
        got = np.asarray(out["data"]).reshape(out["shape"])
        want = expected_answer(model, params, x, words[pos : pos + len(x)])
        assert np.array_equal(got, want)  # bit-exact through JSON both ways
        pos += len(x)
    assert server.unit.position == pos == sum(len(p) for p in device.log)


def test_nested_data_is_accepted(setup):
    server, _, model, params = setup
    x = np.random.default_rng(2).random((2, *SHAPE), dtype=np.float32)
    body = infer_body(x)
    body["inputs"][0]["data"] = x.astype(np.float64).tolist()
    r = run_with_client(server.app, lambda c: c.post(URL, json=body))
    assert r.status_code == 200
    got = np.asarray(json_body(r)["outputs"][0]["data"]).reshape(2, 10)
    assert np.array_equal(got, expected_answer(model, params, x, keystream_words(params, 2)))


def _bad_requests() -> list[tuple[str, int, bytes, str]]:
    """(what, expected status, body, url) for every kind of refusal."""
    x = np.random.default_rng(3).random((2, *SHAPE), dtype=np.float32)
    good = infer_body(x)

    def enc(doc) -> bytes:
        return json.dumps(doc).encode()

    nan = infer_body(x)
    nan["inputs"][0]["data"][5] = float("nan")
    nan_text = enc(nan)
    assert b"NaN" in nan_text
    inf = infer_body(x)
    inf["inputs"][0]["data"][0] = -float("inf")
    inf_text = enc(inf)
    assert b"-Infinity" in inf_text
    cases = [
        ("malformed JSON", 400, b'{"inputs": [', URL),
        ("not an object", 400, b"[1, 2]", URL),
        ("no inputs", 400, enc({"id": "x"}), URL),
        ("two inputs", 400, enc({"inputs": good["inputs"] * 2}), URL),
        ("wrong input name", 400, enc(infer_body(x, name="image")), URL),
        ("wrong datatype", 422, enc(infer_body(x, datatype="FP64")), URL),
        ("INT8 datatype", 422, enc(infer_body(x, datatype="INT8")), URL),
        ("wrong shape", 422, enc(infer_body(x, shape=[2, 1, 4, 5])), URL),
        ("flat shape", 422, enc(infer_body(x, shape=[2, 16])), URL),
        ("zero rows", 422, enc(infer_body(x, shape=[0, *SHAPE], data=[])), URL),
        ("length mismatch", 422, enc(infer_body(x, shape=[3, *SHAPE])), URL),
        ("NaN", 422, nan_text, URL),
        ("Infinity", 422, inf_text, URL),
        ("strings", 400, enc(infer_body(x, data=["0.5"] * 32)), URL),
        ("booleans", 400, enc(infer_body(x, data=[True] + [0.5] * 31)), URL),
        ("ragged", 400, enc(infer_body(x, data=[[0.5] * 16, [0.5] * 15])), URL),
        ("float32 overflow", 422, enc(infer_body(x, data=[1e39] + [0.5] * 31)), URL),
        ("too many rows", 413, enc(infer_body(np.zeros((65, *SHAPE), np.float32))), URL),
        ("body over the limit", 413, b" " * 20_001, URL),
        ("unknown model", 404, enc(good), "/v2/models/other/infer"),
        ("outputs not ours", 400, enc({**good, "outputs": [{"name": "logits"}]}), URL),
    ]
    return cases


@pytest.mark.parametrize("case", _bad_requests(), ids=lambda c: c[0])
def test_bad_request_is_refused_and_consumes_nothing(setup, case):
    server, device, model, params = setup
    what, status, content, url = case
    x = np.random.default_rng(4).random((1, *SHAPE), dtype=np.float32)

    async def body(c):
        bad = await c.post(url, content=content, headers={"content-type": "application/json"})
        good = await c.post(URL, json=infer_body(x))  # the server keeps serving
        return bad, good

    bad, good = run_with_client(server.app, body)
    assert bad.status_code == status, (what, bad.text)
    reason = json_body(bad)["error"]
    assert reason and "\n" not in reason
    # the refused request consumed nothing: the next one sits at keystream position 0
    assert good.status_code == 200
    got = np.asarray(json_body(good)["outputs"][0]["data"]).reshape(1, 10)
    assert np.array_equal(got, expected_answer(model, params, x, keystream_words(params, 1)))
    assert server.unit.position == 1


def test_model_output_that_is_not_a_probability_is_refused_before_the_unit():
    params = make_params()
    device = Device(params)
    model = LinearModel(nan_above=100.0)
    server = PredictionServer(model, UnitSupervisor(device.open),
                              ServerConfig(model_name="m", max_delay=0.0))
    server.start()
    x = np.full((1, *SHAPE), 1000.0, np.float32)
    try:
        r = run_with_client(server.app, lambda c: c.post(URL, json=infer_body(x)))
    finally:
        server.stop()
    assert r.status_code == 422
    assert server.unit.position == 0 and device.log == []


def test_metrics_count_answers_and_never_say_what_was_altered(setup):
    server, device, model, params = setup
    rng = np.random.default_rng(5)
    xs = [rng.random((m, *SHAPE), dtype=np.float32) for m in (4, 4, 4, 4, 4)]

    async def body(c):
        for x in xs:
            assert (await c.post(URL, json=infer_body(x))).status_code == 200
        await c.post(URL, content=b"{")
        return await c.get("/metrics")

    r = run_with_client(server.app, body)
    text = r.text
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert metric(text, "dynamarks_vectors_total") == 20
    assert 'dynamarks_requests_total{code="200",endpoint="infer"} 5.0' in text
    assert 'dynamarks_requests_total{code="400",endpoint="infer"} 1.0' in text
    assert metric(text, "dynamarks_batch_size_sum") == 20
    assert metric(text, "dynamarks_batch_size_count") == 5
    assert metric(text, "dynamarks_backend_errors_total") == 0
    assert metric(text, "dynamarks_ready") == 1
    assert "dynamarks_request_latency_seconds_bucket" in text
    lowered = text.lower()
    for word in ("alter", "key", "iv", "position", "secret", "param"):
        assert word not in lowered.replace("dynamarks_", ""), word


def test_access_log_is_one_json_line_per_request(setup, caplog):
    server, *_ = setup
    x = np.zeros((2, *SHAPE), np.float32)
    with caplog.at_level("INFO", logger="dynamarks.access"):
        run_with_client(server.app, lambda c: c.post(URL, json=infer_body(x)))
    (rec,) = [r for r in caplog.records if r.name == "dynamarks.access"]
    line = json.loads(rec.getMessage())
    assert line["method"] == "POST" and line["path"] == URL
    assert line["status"] == 200 and line["vectors"] == 2 and line["ms"] >= 0
    assert set(line) == {"time", "client", "method", "path", "status", "ms", "vectors"}


def _binary(x: np.ndarray, size: int | None = None) -> tuple[bytes, dict]:
    raw = x.astype("<f4").tobytes()
    head = json.dumps({"inputs": [{
        "name": "input", "shape": list(x.shape), "datatype": "FP32",
        "parameters": {"binary_data_size": len(raw) if size is None else size}}]}).encode()
    return head + raw, {"inference-header-content-length": str(len(head))}


def test_binary_tensor_extension(setup):
    server, _, model, params = setup
    rng = np.random.default_rng(6)
    x = rng.random((3, *SHAPE), dtype=np.float32)
    nan = x.copy()
    nan[1, 0, 2, 2] = np.nan
    cases = [_binary(x), _binary(nan), _binary(x, size=10), _binary(x[:, :, :2])]
    body, headers = _binary(x)
    cases.append((body, {"inference-header-content-length": str(len(body) + 1)}))

    async def go(c):
        return [await c.post(URL, content=b, headers=h) for b, h in cases]

    replies = run_with_client(server.app, go)
    assert [r.status_code for r in replies] == [200, 422, 400, 422, 400]
    got = np.asarray(json_body(replies[0])["outputs"][0]["data"]).reshape(3, 10)
    assert np.array_equal(got, expected_answer(model, params, x, keystream_words(params, 3)))
    assert server.unit.position == 3
