"""The attacker's view over HTTP: a :class:`~dynamarks.models.api.ProtectedAPI` served on
loopback by the prediction server and queried through :class:`OipClient`.

Interface::

    http_api = served_api(api)        # starts the server (a daemon thread, 127.0.0.1:0)
    http_api.query(x) -> float64[M, N]            # POST /v2/models/victim/infer
    http_api.query_averaged(x, repeats) -> ...    # repeats x M rows over HTTP
    http_api.url, http_api.backend, ...           # anything else: the wrapped api's
    http_api.close()                  # stops the server, then closes the wrapped api
    with served_api(api) as http_api: ...         # the same, scoped

Used by ``dynamarks demo --attacker-http`` and ``dynamarks experiment ... --attacker-http``:
the attacker's queries then travel the whole deployed path (JSON/binary tensors, HTTP,
dynamic batching, the server's worker) instead of a function call. The served unit is the
wrapped api's own configured backend, so the keystream continues exactly as it would in
process; while the server runs, nothing else may call that api's unit (the server's worker
owns it), which is why only the query methods are served here. Images go as raw FP32
(binary tensor data extension): the answers are bit-identical to the in-process path's.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch

from dynamarks.host.errors import DynamarksError
from dynamarks.host.oip_client import OipClient
from dynamarks.models.server import PredictionServer, ServerConfig, bind
from dynamarks.models.server_pipeline import UnitSupervisor


class _TorchModel:
    """A PyTorch classifier as a served model: softmax in float64, as ``ProtectedAPI``."""

    def __init__(self, module: torch.nn.Module, input_shape: tuple[int, ...], classes: int):
        self.module = module.eval()
        self.input_shape = input_shape
        self.classes = classes

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(self.module(torch.from_numpy(x)).double(), dim=1).numpy()


class HttpAPI:
    """See the module doc."""

    def __init__(self, api: Any, input_shape: tuple[int, ...], model_name: str = "victim",
                 batch_size: int = 1000) -> None:
        backend = getattr(api, "_backend", None)
        if backend is None:
            raise DynamarksError("the attacker can query over HTTP only a unit backend "
                                 "(reference, rtl, serial), not the float model")
        import uvicorn

        self._api = api
        self.batch_size = batch_size
        once = iter([backend])

        def open_once():
            try:
                return next(once)
            except StopIteration:
                raise DynamarksError("the served unit cannot be restarted") from None

        unit = UnitSupervisor(open_once, owns_backend=False)
        model = _TorchModel(api.model, tuple(input_shape), api.classes)
        self.server = PredictionServer(model, unit, ServerConfig(model_name=model_name))
        self._sock = bind("127.0.0.1", 0)
        port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v2/models/{model_name}"
        config = uvicorn.Config(self.server.app, log_level="warning", access_log=False,
                                lifespan="on")
        self._uvicorn = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._uvicorn.run,
                                        kwargs={"sockets": [self._sock]}, daemon=True,
                                        name="dynamarks-http-api")
        self._thread.start()
        self.client = OipClient(self.url, timeout=600.0, max_rows=batch_size, binary=True)
        import time

        for _ in range(600):  # the server is up once the metadata answers
            try:
                self.client.metadata()
                break
            except DynamarksError:
                time.sleep(0.05)
        else:
            self.close()
            raise DynamarksError("the loopback prediction server did not start")

    def query(self, x: torch.Tensor, progress=None) -> np.ndarray:
        """F_alt(x) over HTTP: float64[M, N], rows in order."""
        parts = []
        for start in range(0, len(x), self.batch_size):
            parts.append(self.client.infer(np.asarray(x[start : start + self.batch_size])))
            if progress is not None:
                progress(len(parts[-1]))
        return np.concatenate(parts) if parts else np.empty((0, self._api.classes))

    def query_averaged(self, x: torch.Tensor, repeats: int = 100, progress=None,
                       chunk: int = 200) -> np.ndarray:
        """Mean of ``repeats`` HTTP queries of every input (``repeats`` x M vectors)."""
        out = []
        for start in range(0, len(x), chunk):
            block = np.asarray(x[start : start + chunk])
            tiled = np.concatenate([block] * repeats)
            out.append(self.client.infer(tiled).reshape(repeats, len(block), -1).mean(0))
            if progress is not None:
                progress(len(block))
        return np.concatenate(out)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    def close(self) -> None:
        self.client.close()
        self._uvicorn.should_exit = True
        self._thread.join(60)
        self._sock.close()
        self._api.close()

    def __enter__(self) -> HttpAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def served_api(api: Any, input_shape: tuple[int, ...] | None = None) -> HttpAPI:
    """Serve ``api`` (a ProtectedAPI on a unit backend) on loopback; see the module doc.
    ``input_shape`` (C, H, W) defaults to the victim network's (its build spec)."""
    if input_shape is None:
        from dynamarks.models.networks import spec_of

        _, kw = spec_of(api.model)
        input_shape = (int(kw["in_channels"]), int(kw["image_size"]), int(kw["image_size"]))
    return HttpAPI(api, input_shape)
