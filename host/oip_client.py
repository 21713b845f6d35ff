"""A client of an Open Inference Protocol v2 (REST) model endpoint: a suspect or a protected
API that is only reachable over HTTP.

Interface::

    with OipClient("http://127.0.0.1:8000/v2/models/fmnist", timeout=30.0) as api:
        api.metadata() -> dict                      # GET /v2/models/NAME
        api.infer(x float32[M, ...]) -> float64[M, N]   # POST .../infer, rows in order

``infer`` sends the rows in requests of at most ``max_rows`` (default 256) over one kept-alive
connection (as JSON numbers, or with ``binary=True`` as raw FP32 by the binary tensor data
extension, which ``dynamarks serve`` and Triton accept) and returns the output tensor the
server names ``probabilities`` (or its only output), as float64 rows in input order. JSON
FP32 values go as the exact decimal of each float32, so the server receives the tensor bit
for bit either way. Any failure (connection refused, time-out, a
non-200 status, a reply of the wrong shape) is a :class:`DynamarksError` with one line: the
URL, the status and the server's ``error`` text (truncated), never the request data.
No request is retried: with a watermarked API every answered query consumed keystream, and a
lost answer must be asked again by the caller knowingly.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from dynamarks.host.errors import DynamarksError

_URL = re.compile(r"^(https?://[^/]+)/v2/models/([^/]+)(?:/versions/([^/]+))?/?(?:infer)?$")


class OipClient:
    """See the module doc. ``url`` is ``http[s]://HOST:PORT/v2/models/NAME``."""

    def __init__(self, url: str, timeout: float = 30.0, max_rows: int = 256,
                 binary: bool = False) -> None:
        m = _URL.match(url.strip())
        if not m:
            raise DynamarksError(
                f"{url!r} is not an OIP model URL (http://HOST:PORT/v2/models/NAME)"
            )
        import httpx

        self.base, self.name, version = m.group(1), m.group(2), m.group(3)
        self.model_url = f"{self.base}/v2/models/{self.name}" + (
            f"/versions/{version}" if version else ""
        )
        self.url = url
        self.max_rows = max_rows
        self.binary = binary
        self._http = httpx.Client(timeout=timeout)
        self._meta: dict[str, Any] | None = None

    # ---- the interface -----------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The model's metadata (name, inputs, outputs), fetched once."""
        if self._meta is None:
            doc = self._request("GET", self.model_url)
            if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list):
                raise DynamarksError(f"{self.model_url}: the metadata has no 'inputs'")
            self._meta = doc
        return self._meta

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Probability rows float64[M, N] for the inputs ``x`` float32[M, ...], in order."""
        x = np.asarray(x)
        if x.ndim < 1 or len(x) == 0:
            raise DynamarksError("infer needs at least one input row")
        meta = self.metadata()
        spec = meta["inputs"][0]
        name, datatype = spec.get("name", "input"), spec.get("datatype", "FP32")
        if datatype != "FP32":
            raise DynamarksError(f"{self.model_url} takes {datatype}; only FP32 is supported")
        x = np.ascontiguousarray(x, dtype=np.float32)
        parts = []
        for start in range(0, len(x), self.max_rows):
            chunk = x[start : start + self.max_rows]
            tensor: dict[str, Any] = {"name": name, "shape": list(chunk.shape),
                                      "datatype": "FP32"}
            if self.binary:
                raw = chunk.astype("<f4").tobytes()
                tensor["parameters"] = {"binary_data_size": len(raw)}
                head = json.dumps({"inputs": [tensor]}, separators=(",", ":")).encode()
                doc = self._request("POST", self.model_url + "/infer", head + raw,
                                    {"inference-header-content-length": str(len(head))})
            else:
                tensor["data"] = chunk.astype(np.float64).ravel().tolist()
                content = json.dumps({"inputs": [tensor]}, separators=(",", ":")).encode()
                doc = self._request("POST", self.model_url + "/infer", content)
            parts.append(self._output(doc, len(chunk)))
        return np.concatenate(parts)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OipClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- helpers -----------------------------------------------------------------------

    def _output(self, doc: Any, rows: int) -> np.ndarray:
        outs = doc.get("outputs") if isinstance(doc, dict) else None
        if not isinstance(outs, list) or not outs:
            raise DynamarksError(f"{self.model_url}: the reply has no outputs")
        out = next((o for o in outs if o.get("name") == "probabilities"), outs[0])
        try:
            shape = [int(d) for d in out["shape"]]
            data = np.asarray(out["data"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise DynamarksError(f"{self.model_url}: a malformed output tensor") from None
        if len(shape) != 2 or shape[0] != rows or data.size != shape[0] * shape[1]:
            raise DynamarksError(
                f"{self.model_url}: {rows} rows asked, an output of shape {shape} came back"
            )
        return data.reshape(shape)

    def _request(self, method: str, url: str, content: bytes | None = None,
                 headers: dict[str, str] | None = None) -> Any:
        import httpx

        try:
            if content is None:
                r = self._http.request(method, url)
            else:
                r = self._http.request(method, url, content=content, headers={
                    "content-type": "application/json", **(headers or {})})
        except httpx.TimeoutException:
            raise DynamarksError(f"{url}: no answer in time") from None
        except httpx.HTTPError as exc:
            raise DynamarksError(f"{url}: {type(exc).__name__}: {_first_line(exc)}") from None
        if r.status_code != 200:
            try:
                reason = str(r.json().get("error", ""))
            except (ValueError, AttributeError):
                reason = r.text
            raise DynamarksError(f"{url}: HTTP {r.status_code}: {_first_line(reason)}")
        try:
            return r.json()
        except ValueError:
            raise DynamarksError(f"{url}: the reply is not JSON") from None


def _first_line(obj: object) -> str:
    text = str(obj).strip()
    return (text.splitlines()[0] if text else "")[:200]
