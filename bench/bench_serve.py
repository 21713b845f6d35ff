"""Load test of the prediction API server on loopback (figures, never pass/fail).

    python bench/bench_serve.py [--clients 1,8,64] [--seconds 5] [--rows 4] [--max-batch 64]
                                [--max-delay-ms 2] [--server-threads 1]

Starts ``dynamarks serve`` (reference backend, the paper's Fashion-MNIST CNN from
``dynamarks.models.networks`` with random weights: the cost does not depend on the weights)
as a separate process on 127.0.0.1, then for each K drives K concurrent clients (asyncio,
one kept-alive HTTP/1.1 connection each, the request encoded once beforehand) for ``--seconds``
and prints requests/s, vectors/s, p50/p99 latency and the server's batch-size histogram
(from ``/metrics``, before/after each phase). Every answer is checked: status 200 and
``rows`` probability rows.

Overhead: in the same run, the same model + SPEC §2 conversion + reference unit is called
in-process on batches of ``--max-batch`` rows for ``--seconds``; the ratio printed is
in-process vectors/s over served vectors/s at the largest K (1.0 = no overhead). Clients and
server share the machine's cores, as on a 2-core laptop; the figures are the sum of both.

Bounded: len(clients) x seconds of load plus the server's start-up (about 5-20 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _histogram(metrics: str) -> dict[str, float]:
    out = {}
    for m in re.finditer(r'^dynamarks_batch_size_bucket\{le="([^"]+)"\} (\S+)$', metrics, re.M):
        out[m.group(1)] = float(m.group(2))
    return out


def _diff_hist(before: dict, after: dict) -> list[tuple[str, int]]:
    """Per-bucket counts (not cumulative) between two scrapes."""
    rows, prev = [], 0.0
    for le in after:
        cum = after[le] - before.get(le, 0.0)
        if cum - prev:
            rows.append((le, int(cum - prev)))
        prev = cum
    return rows


async def _phase(url: str, body: bytes, rows: int, clients: int, seconds: float,
                 extra_headers: str = "") -> dict:
    """K clients, each on its own kept-alive HTTP/1.1 connection, each sending the same
    pre-encoded request as soon as its previous answer is in. The client is a minimal
    HTTP/1.1 writer/reader (like wrk): a full client library would cost more CPU than the
    server on a 2-core machine and the figure would measure the client."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    head = (f"POST {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: application/json"
            f"\r\nContent-Length: {len(body)}\r\n{extra_headers}\r\n").encode()
    request = head + body
    expect = f'"shape":[{rows},10]'.encode()
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(u.hostname, u.port)
        try:
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                writer.write(request)
                header = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", header).group(1))
                answer = await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if not header.startswith(b"HTTP/1.1 200") or expect not in answer:
                    errors += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - t0
    lat = np.array(latencies)
    return {"clients": clients, "requests": len(lat), "wall": wall, "errors": errors,
            "rps": len(lat) / wall, "vps": len(lat) * rows / wall,
            "p50_ms": 1000 * float(np.percentile(lat, 50)),
            "p99_ms": 1000 * float(np.percentile(lat, 99))}


def _in_process(path: Path, params, batch: int, seconds: float) -> float:
    """Vectors/s of the same model file + SPEC §2 + reference unit called directly on
    batches of ``batch`` (what the server's worker does, without HTTP and batching)."""
    from dynamarks.host.driver import open_backend
    from dynamarks.host.fixedpoint import to_fixed, to_float
    from dynamarks.models.model_file import open_model

    model = open_model(path)
    x = np.random.default_rng(1).random((batch, 1, 28, 28), dtype=np.float32)
    n = 0
    with open_backend("reference", params) as backend:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            p = model.predict_proba(x)
            to_float(backend.process(to_fixed(p, params.width, params.classes)), params.width)
            n += batch
        return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", default="1,8,64")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rows", type=int, default=4, help="images per request")
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--max-delay-ms", type=float, default=2.0)
    ap.add_argument("--binary", action="store_true",
                    help="send the images as raw FP32 (binary tensor data extension), not JSON")
    ap.add_argument("--server-threads", type=int, default=1, help="torch threads in the server")
    args = ap.parse_args(argv)
    ks = [int(k) for k in args.clients.split(",")]

    import torch

    torch.set_num_threads(1)
    from dynamarks.host.params import keygen, save_params
    from dynamarks.models.checkpoint import save_checkpoint
    from dynamarks.models.networks import build

    tmp = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    model = build("fmnist_cnn", 1, 10, 28, seed=0).eval()
    save_checkpoint(tmp / "fmnist.pt", model, dataset="fmnist")
    params = keygen(10, 16, seed=1)
    save_params(params, tmp / "params.dmk")
    cmd = [sys.executable, "-m", "dynamarks", "serve", "--model", str(tmp / "fmnist.pt"),
           "--params", str(tmp / "params.dmk"), "--http-port", "0", "--log-level", "warning",
           "--max-batch", str(args.max_batch), "--max-delay-ms", str(args.max_delay_ms),
           "--torch-threads", str(args.server_threads)]
    server = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline()
        m = re.search(r"on (http://[\d.]+:\d+/v2/models/\S+)", line)
        if not m:
            print(f"server did not start: {line}{server.stderr.read()}", file=sys.stderr)
            return 1
        url = m.group(1)
        base = url.split("/v2/")[0]
        import httpx

        for _ in range(600):
            try:
                if httpx.get(base + "/v2/health/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        x = np.random.default_rng(0).random((args.rows, 1, 28, 28), dtype=np.float32)
        tensor = {"name": "input", "shape": list(x.shape), "datatype": "FP32"}
        extra = ""
        if args.binary:
            raw = x.astype("<f4").tobytes()
            tensor["parameters"] = {"binary_data_size": len(raw)}
            head = json.dumps({"inputs": [tensor]}).encode()
            body = head + raw
            extra = f"Inference-Header-Content-Length: {len(head)}\r\n"
        else:
            tensor["data"] = x.astype(np.float64).ravel().tolist()
            body = json.dumps({"inputs": [tensor]}).encode()
        print(f"prediction API on loopback: fmnist_cnn, reference unit, {args.rows} images per "
              f"request ({'binary FP32' if args.binary else 'JSON'}), max batch {args.max_batch}, "
              f"max delay {args.max_delay_ms} ms, "
              f"{os.cpu_count()} cores shared by clients and server")
        print(f"{'clients':>7} {'requests/s':>10} {'vectors/s':>10} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'errors':>6}  batch sizes (vectors: calls)")
        results = []
        for k in ks:
            before = _histogram(httpx.get(base + "/metrics").text)
            r = asyncio.run(_phase(url + "/infer", body, args.rows, k, args.seconds, extra))
            after = _histogram(httpx.get(base + "/metrics").text)
            hist = ", ".join(f"<={le}: {n}" for le, n in _diff_hist(before, after))
            print(f"{k:>7} {r['rps']:>10.0f} {r['vps']:>10.0f} {r['p50_ms']:>7.1f} "
                  f"{r['p99_ms']:>7.1f} {r['errors']:>6}  {hist}")
            results.append(r)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    inproc = _in_process(tmp / "fmnist.pt", params, args.max_batch, args.seconds)
    served = results[-1]["vps"]
    print(f"in-process model + unit, batch {args.max_batch}: {inproc:.0f} vectors/s; "
          f"served at {ks[-1]} clients: {served:.0f} vectors/s; overhead "
          f"{inproc / served:.2f}x")
    return 0 if all(r["errors"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
