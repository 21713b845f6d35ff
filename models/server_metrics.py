"""The server's Prometheus metrics (``GET /metrics``, text exposition format).

Each server has its own ``CollectorRegistry`` (so tests and several servers in one process do
not share counters). What is counted, and what is never exported:

* ``dynamarks_vectors_total`` — probability vectors answered (rows of 200 responses);
* ``dynamarks_requests_total{endpoint, code}`` — every HTTP request by route and status;
* ``dynamarks_batch_size`` — vectors per model + unit call (histogram);
* ``dynamarks_request_latency_seconds{endpoint}`` — time from request to response (histogram);
* ``dynamarks_backend_errors_total`` — failures of the watermark backend;
* ``dynamarks_ready`` — 1 while the unit can answer.

Never exported: a secret, the keystream position, or whether (or how many) vectors the unit
altered — an altered-count would let a client learn which of its answers were watermarked.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

#: Route labels: a fixed set, so that unknown paths cannot blow up label cardinality.
ENDPOINTS = ("infer", "model_metadata", "model_ready", "live", "ready", "server_metadata",
             "metrics", "other")


class ServerMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, max_batch: int = 64) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.vectors = Counter("dynamarks_vectors", "Probability vectors answered", registry=r)
        self.requests = Counter(
            "dynamarks_requests", "HTTP requests by endpoint and status code",
            ["endpoint", "code"], registry=r,
        )
        buckets = sorted({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, max_batch})
        self.batch_size = Histogram(
            "dynamarks_batch_size", "Vectors per model + unit call", buckets=buckets, registry=r
        )
        self.latency = Histogram(
            "dynamarks_request_latency_seconds", "Time from request to response",
            ["endpoint"], registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
        )
        self.backend_errors = Counter(
            "dynamarks_backend_errors", "Failures of the watermark backend", registry=r
        )
        self.ready = Gauge("dynamarks_ready", "1 while the watermark unit can answer", registry=r)

    def batch(self, vectors: int) -> None:
        self.batch_size.observe(vectors)

    def request(self, endpoint: str, code: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(code)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
