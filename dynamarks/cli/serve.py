"""Serve a model's protected prediction API over HTTP (Open Inference Protocol v2, REST).

    dynamarks serve --model model.pt (--params params.dmk | --secrets secrets.sealed)
                    [--backend reference|rtl|serial [--port /dev/ttyUSB1]]
                    [--host 127.0.0.1] [--http-port 8000] [--model-name NAME]

Endpoints: GET /v2/health/live, /v2/health/ready, /v2/models/NAME, /v2/models/NAME/ready,
POST /v2/models/NAME/infer (FP32 images [M, C, H, W] in, FP64 probabilities [M, N] out, every
row through the watermark unit), GET /metrics (Prometheus). Concurrent requests are batched
(--max-batch vectors, --max-delay-ms) through one worker that owns the unit.

Why --http-port and not --port: in every verb that opens a backend, --port is the serial
backend's device (`dynamarks predict --backend serial --port /dev/ttyUSB1`); one option keeps
one meaning across the command line, so the HTTP port is --http-port (--port-serial is
accepted as another name for the serial device).

Order of work: the options are checked, the parameter set is read (or unsealed into memory),
the model is loaded and the listening socket is bound before the backend is configured; a
failure at any step leaves no device configured. The parameter set then stays in memory
(never on disk, never in logs) so that a unit that fails can be re-configured and
fast-forwarded past every keystream position already used. A board (serial) is locked after
configuration and refuses to be re-configured until it is reset; after a serial fault the
server answers 503 and reports not ready until the board is reset, then resumes by itself.
SIGINT/SIGTERM: new connections are refused, requests in flight are answered, then the
unit is closed.
"""

from __future__ import annotations

import argparse

from dynamarks.cli.options import add_backend_options, add_secret_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "--checkpoint", dest="model", required=True, metavar="FILE",
                        help="the model: a dynamarks checkpoint (.pt), TorchScript or ONNX file")
    parser.add_argument("--input-shape", default=None, metavar="C,H,W",
                        help="one image's shape, for a model file that does not say it "
                        "(TorchScript; ONNX with dynamic dimensions)")
    add_backend_options(parser)
    add_secret_options(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, loopback only)")
    parser.add_argument("--http-port", type=int, default=8000, metavar="N",
                        help="TCP port to listen on (default: 8000; 0: any free port). "
                        "Not --port, which is the serial backend's device in every verb")
    parser.add_argument("--model-name", default=None, metavar="NAME",
                        help="the model's name in the URLs (default: the file name's stem)")
    parser.add_argument("--max-batch", type=int, default=64, metavar="N",
                        help="most vectors per model + unit call (default: 64)")
    parser.add_argument("--max-delay-ms", type=float, default=2.0, metavar="MS",
                        help="how long a batch waits for more requests (default: 2 ms)")
    parser.add_argument("--max-body-mb", type=float, default=32.0, metavar="MB",
                        help="largest request body accepted; larger ones get 413 (default: 32)")
    parser.add_argument("--retry-interval", type=float, default=1.0, metavar="S",
                        help="seconds between attempts to restart a failed unit (default: 1)")
    parser.add_argument("--torch-threads", type=int, default=1, metavar="N",
                        help="threads for the model (default: 1; the event loop needs a core)")
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"),
                        help="log level; the access log (one JSON line per request) is info")


def run(args: argparse.Namespace) -> int:
    import logging
    import re
    import sys
    from pathlib import Path

    from dynamarks.cli.options import backend_opts_from_args, params_from_args
    from dynamarks.host.errors import DynamarksError

    opts = backend_opts_from_args(args)  # refuse bad options before touching the TPM
    if not 0 <= args.http_port <= 65535:
        raise DynamarksError(f"--http-port {args.http_port} is not a TCP port")
    if args.max_batch < 1 or args.max_delay_ms < 0 or args.max_body_mb <= 0:
        raise DynamarksError("--max-batch must be >= 1, --max-delay-ms >= 0, --max-body-mb > 0")
    if args.torch_threads < 1:
        raise DynamarksError("--torch-threads must be at least 1")
    name = args.model_name or Path(args.model).stem
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise DynamarksError(f"model name {name!r}: use letters, digits, '_', '.', '-'")
    params = params_from_args(args)  # unsealed into memory only

    import torch

    torch.set_num_threads(args.torch_threads)
    from dynamarks.host.driver import open_backend
    from dynamarks.models.model_file import open_model
    from dynamarks.models.server import PredictionServer, ServerConfig, bind, serve_forever
    from dynamarks.models.server_pipeline import UnitSupervisor

    model = open_model(args.model)
    _settle_shape(model, args.input_shape)
    if model.classes != params.classes:
        raise DynamarksError(
            f"the model has {model.classes} classes but the parameter set is for {params.classes}"
        )
    sock = bind(args.host, args.http_port)
    try:
        unit = UnitSupervisor(lambda: open_backend(args.backend, params, **opts),
                              retry_interval=args.retry_interval)
        config = ServerConfig(
            model_name=name, max_batch=args.max_batch, max_delay=args.max_delay_ms / 1000,
            max_body_bytes=int(args.max_body_mb * (1 << 20)),
            platform={"onnx": "onnxruntime_onnx", "torchscript": "pytorch_torchscript"}.get(
                model.kind, "pytorch_dynamarks_checkpoint"),
        )
        server = PredictionServer(model, unit, config)
        level = getattr(logging, args.log_level.upper())
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        for logger in ("dynamarks.access", "dynamarks.serve"):
            logging.getLogger(logger).addHandler(handler)
            logging.getLogger(logger).setLevel(level)
        host, port = sock.getsockname()[:2]
        print(f"dynamarks serve: {name} ({model.classes} classes, input "
              f"{list(model.input_shape)}) on http://{host}:{port}/v2/models/{name} through the "
              f"{args.backend} backend", file=sys.stderr, flush=True)
        serve_forever(server, sock, log_level=args.log_level)
    finally:
        sock.close()
    return 0


def _settle_shape(model, given: str | None) -> None:
    """Fill in the model's per-image shape (from ``--input-shape`` when the file does not say
    it) and its class count (from one forward pass on zeros when the file does not say it)."""
    import numpy as np

    from dynamarks.host.errors import DynamarksError

    shape = None
    if given is not None:
        try:
            shape = tuple(int(d) for d in given.split(","))
        except ValueError:
            shape = ()
        if not shape or min(shape) < 1:
            raise DynamarksError(f"--input-shape {given!r}: give positive sizes like 1,28,28")
    if model.input_shape is None:
        if shape is None:
            raise DynamarksError(
                f"{model.path.name} does not say its input shape; give --input-shape C,H,W"
            )
        model.input_shape = shape
    elif shape is not None and tuple(model.input_shape) != shape:
        raise DynamarksError(
            f"--input-shape {given} but {model.path.name} takes {tuple(model.input_shape)}"
        )
    if model.classes is None:
        model.classes = int(model.predict_proba(np.zeros((1, *model.input_shape), np.float32))
                            .shape[1])
