"""The protected prediction API as an HTTP server: Open Inference Protocol v2 over REST.

Interface::

    server = PredictionServer(model, unit, ServerConfig(model_name="fmnist"))
    app = server.app            # an ASGI app; server.start()/stop() run in its lifespan
    serve_forever(server, bind("127.0.0.1", 8000))     # uvicorn, until SIGINT/SIGTERM

Endpoints (OIP v2 REST; bodies are JSON, errors are ``{"error": "<one line>"}``):

=====================================  =========================================================
``GET  /v2/health/live``               200 while the process serves HTTP
``GET  /v2/health/ready``              200 when the unit can answer, else 503 (and a retry of
                                       a failed unit is started, see ``UnitSupervisor``)
``GET  /v2``                           server metadata
``GET  /v2/models/NAME``               model metadata: ``input`` FP32 [-1, C, H, W],
                                       ``probabilities`` FP64 [-1, N]
``GET  /v2/models/NAME/ready``         like /v2/health/ready, for the model
``POST /v2/models/NAME/infer``         FP32 images in, watermarked probability rows out
                                       (also under ``/versions/1/``)
``GET  /metrics``                      Prometheus text format (:mod:`server_metrics`)
=====================================  =========================================================

Status codes of ``infer``: 200; 400 malformed JSON or request; 404 unknown model; 413 body
over ``max_body_bytes`` or more than ``max_rows`` rows; 422 wrong datatype or shape, data
length that does not match the shape, NaN/Inf; 503 the unit failed or the server is shutting
down; 500 the model failed. Every refusal is decided before the request is queued (or, for a
model output that is not a probability vector, before the unit), so it consumes no keystream.

Why FastAPI on uvicorn: both are maintained, widely deployed and ASGI, so the server is
asynchronous (thousands of open connections cost no threads, which dynamic batching needs:
many requests must be *waiting* at once for a batch to form) while the model and the unit
run on one worker thread (:mod:`server_batcher`). uvicorn handles SIGINT/SIGTERM by
refusing new connections and letting in-flight requests finish before the lifespan's
shutdown, which then drains the batcher: graceful shutdown with nothing lost. FastAPI adds
routing and an OpenAPI page (``/docs``); request bodies are read raw and parsed by
:mod:`server_protocol` (plain ``json`` + numpy), which is several times faster than
per-field model validation for tensors of thousands of numbers.

Access log: one JSON object per request on the ``dynamarks.access`` logger (time, client,
method, path, status, milliseconds, vectors); never a body, a secret, or whether an answer
was altered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import time
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from dynamarks.models.server_batcher import Batcher, BatchError
from dynamarks.models.server_metrics import ServerMetrics
from dynamarks.models.server_pipeline import ServedModel, UnitSupervisor
from dynamarks.models.server_protocol import (
    MODEL_VERSION,
    OipError,
    TensorSpec,
    encode_infer_response,
    error_body,
    model_metadata,
    parse_infer_request,
)

access_log = logging.getLogger("dynamarks.access")
JSON = "application/json"


@dataclass(frozen=True)
class ServerConfig:
    model_name: str = "dynamarks"
    max_batch: int = 64  # vectors per model + unit call
    max_delay: float = 0.002  # seconds a batch waits for more requests
    max_body_bytes: int = 32 << 20
    max_rows: int = 4096  # rows in one request
    probe_wait: float = 1.0  # seconds a readiness probe waits for a recovery attempt
    platform: str = "dynamarks"


class PredictionServer:
    """Model + unit behind the OIP endpoints; owns the batcher and the unit from start()."""

    def __init__(self, model: ServedModel, unit: UnitSupervisor, config: ServerConfig) -> None:
        if model.classes != unit.classes:
            from dynamarks.host.errors import DynamarksError

            raise DynamarksError(
                f"the model has {model.classes} classes but the unit is configured for "
                f"{unit.classes}"
            )
        self.config = config
        self.model = model
        self.unit = unit
        self.spec = TensorSpec(tuple(int(d) for d in model.input_shape))
        self.metrics = ServerMetrics(config.max_batch)
        self.batcher = Batcher(
            model, unit, max_batch=config.max_batch, max_delay=config.max_delay,
            metrics=self.metrics,
        )
        self._started = False
        self._stopped = False
        self.app = self._build_app()

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.batcher.start()
            self.metrics.ready.set(1 if self.batcher.ready else 0)

    def stop(self) -> None:
        """Answer everything queued, stop the worker, close the unit (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self.metrics.ready.set(0)
        if self._started:
            self.batcher.stop(drain=True)
        self.unit.close()

    # ---- the ASGI app ----------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        @contextlib.asynccontextmanager
        async def lifespan(_app: FastAPI):
            self.start()
            try:
                yield
            finally:
                await asyncio.to_thread(self.stop)

        app = FastAPI(
            title="DynaMarks prediction API",
            summary="Open Inference Protocol v2: a model's probabilities through the "
            "DynaMarks watermark unit",
            lifespan=lifespan,
        )
        cfg, name = self.config, self.config.model_name

        @app.exception_handler(StarletteHTTPException)
        async def http_error(_req: Request, exc: StarletteHTTPException) -> Response:
            return _error(exc.status_code, str(exc.detail))

        @app.get("/v2/health/live")
        async def live() -> Response:
            return _json(200, {"live": True})

        @app.get("/v2/health/ready")
        async def ready() -> Response:
            ok = await self._ready()
            return _json(200 if ok else 503, {"ready": ok})

        @app.get("/v2")
        async def server_metadata() -> Response:
            return _json(200, {"name": "dynamarks", "version": _version(), "extensions": []})

        @app.get("/v2/models/{model}")
        @app.get("/v2/models/{model}/versions/{version}")
        async def metadata(model: str, version: str = MODEL_VERSION) -> Response:
            if (err := self._check_model(model, version)) is not None:
                return err
            return _json(200, model_metadata(name, self.spec, self.unit.classes, cfg.platform))

        @app.get("/v2/models/{model}/ready")
        @app.get("/v2/models/{model}/versions/{version}/ready")
        async def model_ready(model: str, version: str = MODEL_VERSION) -> Response:
            if (err := self._check_model(model, version)) is not None:
                return err
            ok = await self._ready()
            return _json(200 if ok else 503, {"name": name, "ready": ok})

        async def infer(request: Request) -> Response:
            # a plain Starlette route: FastAPI's per-request dependency solving would cost
            # more than parsing the tensor
            err = self._check_model(request.path_params["model"],
                                    request.path_params.get("version", MODEL_VERSION))
            if err is not None:
                return err
            try:
                body = await _read_body(request, cfg.max_body_bytes)
                req = parse_infer_request(
                    body, self.spec, cfg.max_rows,
                    request.headers.get("inference-header-content-length"),
                )
                out = await asyncio.wrap_future(self.batcher.submit(req.x))
            except (OipError, BatchError) as exc:
                return _error(exc.status, exc.reason)
            self.metrics.vectors.inc(len(out))
            request.state.vectors = len(out)
            return Response(encode_infer_response(name, req.id, out), media_type=JSON)

        for path in ("/v2/models/{model}/infer", "/v2/models/{model}/versions/{version}/infer"):
            app.add_route(path, infer, methods=["POST"], include_in_schema=False)

        @app.get("/metrics")
        async def metrics() -> Response:
            return Response(self.metrics.render(), media_type=self.metrics.content_type)

        app.add_middleware(AccessLog, metrics=self.metrics)
        return app

    def _check_model(self, model: str, version: str) -> Response | None:
        if model != self.config.model_name:
            return _error(404, f"unknown model {model[:100]!r}")
        if version != MODEL_VERSION:
            return _error(404, f"model {model!r} has only version {MODEL_VERSION}")
        return None

    async def _ready(self) -> bool:
        if self.batcher.ready:
            return True
        if not self._started or self._stopped:
            return False
        fut = asyncio.wrap_future(self.batcher.recover())
        try:
            await asyncio.wait_for(asyncio.shield(fut), self.config.probe_wait)
        except TimeoutError:
            pass
        return self.batcher.ready


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise OipError(400, "bad Content-Length")
        if int(declared) > limit:
            raise OipError(413, f"the body is over the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise OipError(413, f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(status: int, doc: dict) -> Response:
    return Response(json.dumps(doc).encode(), status_code=status, media_type=JSON)


def _error(status: int, reason: str) -> Response:
    return Response(error_body(reason), status_code=status, media_type=JSON)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dynamarks")
    except PackageNotFoundError:
        return "0"


_ROUTES = (
    (re.compile(r"^/v2/models/[^/]+(/versions/[^/]+)?/infer$"), "infer"),
    (re.compile(r"^/v2/models/[^/]+(/versions/[^/]+)?/ready$"), "model_ready"),
    (re.compile(r"^/v2/models/[^/]+(/versions/[^/]+)?$"), "model_metadata"),
    (re.compile(r"^/v2/health/live$"), "live"),
    (re.compile(r"^/v2/health/ready$"), "ready"),
    (re.compile(r"^/v2/?$"), "server_metadata"),
    (re.compile(r"^/metrics$"), "metrics"),
)


def endpoint_of(path: str) -> str:
    """The metrics label of a path (a fixed set; see ``server_metrics.ENDPOINTS``)."""
    for pattern, label in _ROUTES:
        if pattern.match(path):
            return label
    return "other"


class AccessLog:
    """Pure ASGI middleware: one structured log line and the request metrics per request."""

    def __init__(self, app, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500
        state = scope.setdefault("state", {})

        async def send_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - t0
            path = scope.get("path", "")
            self.metrics.request(endpoint_of(path), status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client") or ("-", 0)
                access_log.info(json.dumps({
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
                    "client": client[0],
                    "method": scope.get("method"),
                    "path": path[:200],
                    "status": status,
                    "ms": round(1000 * seconds, 3),
                    "vectors": int(state.get("vectors", 0)),
                }))


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); :class:`DynamarksError` if it cannot be had."""
    from dynamarks.host.errors import DynamarksError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DynamarksError(f"cannot resolve --host {host}: {exc.strerror}") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise DynamarksError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def serve_forever(server: PredictionServer, sock: socket.socket, log_level: str = "info") -> None:
    """Run ``server`` under uvicorn on ``sock`` until SIGINT/SIGTERM; requests in flight are
    answered before the lifespan's shutdown drains the batcher and closes the unit."""
    import uvicorn

    config = uvicorn.Config(server.app, log_level=log_level, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=30)
    uvicorn.Server(config).run(sockets=[sock])
