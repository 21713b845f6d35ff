"""The Open Inference Protocol v2 (KServe/Triton REST) as plain functions: JSON bytes in,
validated numpy arrays out, and back.

Interface::

    parse_infer_request(body, spec, max_rows) -> InferRequest(id, x float32[M, *spec.shape])
    encode_infer_response(model_name, request_id, probs) -> bytes
    model_metadata(model_name, spec, classes) -> dict
    error_body(reason) -> bytes                     # {"error": "<one line>"}

JSON shapes (OIP v2 REST, "Inference Request/Response JSON Object")::

    request  {"id"?: str, "parameters"?: {}, "inputs": [{"name": "input", "shape": [M, C, H, W],
              "datatype": "FP32", "data": [... M*C*H*W numbers, flat row-major or nested]}],
              "outputs"?: [{"name": "probabilities"}]}
    response {"model_name": str, "model_version": "1", "id": str, "parameters": {},
              "outputs": [{"name": "probabilities", "shape": [M, N], "datatype": "FP64",
                           "data": [... M*N numbers, row-major]}]}
    error    {"error": str}

The binary tensor data extension (Triton's, also KServe's) is accepted for the input: the
header ``Inference-Header-Content-Length: L`` says the JSON is the body's first L bytes; the
input then has ``"parameters": {"binary_data_size": B}`` and no ``data``, and its B bytes of
little-endian FP32 follow the JSON. It skips the decimal round trip (about 1 µs per number
in ``json``), which is what limits a JSON client at 784 numbers an image. Answers are JSON.

Every refusal is an :class:`OipError` with an HTTP status (400 malformed, 413 too large,
422 well-formed JSON with a tensor the model cannot take) and a one-line reason that quotes
nothing from the request body. Parsing is complete before anything is queued, so a refused
request never reaches the model or the watermark unit (no keystream consumed).

Numbers: FP32 inputs arrive as JSON numbers and are rounded to float32; a client that writes
each float32 as the decimal of its exact value (``float(np.float32(v))``, which ``json``
does) gets its tensor back bit for bit. Outputs are the unit's codes ``/ 2**(W-1)``: binary
fractions that ``json`` writes and reads exactly, so answers are bit-exact too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"
MODEL_VERSION = "1"


class OipError(Exception):
    """A request the server refuses: ``status`` (4xx) and a one-line ``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason.replace("\n", " ")


@dataclass(frozen=True)
class TensorSpec:
    """The model's input: per-row shape (C, H, W) and the OIP datatype (always FP32)."""

    shape: tuple[int, ...]
    datatype: str = "FP32"

    @property
    def row_size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    x: np.ndarray  # float32[M, *spec.shape], finite


def parse_infer_request(
    body: bytes, spec: TensorSpec, max_rows: int, header_length: str | None = None
) -> InferRequest:
    """Validate an inference request body; see the module doc. Raises :class:`OipError`.

    ``header_length``: the ``Inference-Header-Content-Length`` header of the binary tensor
    data extension, if the request has one.
    """
    binary = b""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise OipError(400, "bad Inference-Header-Content-Length")
        body, binary = body[: int(header_length)], body[int(header_length) :]
    try:
        doc = json.loads(body)  # NaN/Infinity parse, and are refused below with 422
    except (ValueError, RecursionError):
        raise OipError(400, "the body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise OipError(400, "the body must be a JSON object")
    req_id = doc.get("id")
    if req_id is not None and not isinstance(req_id, str):
        raise OipError(400, "'id' must be a string")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise OipError(400, f"'inputs' must be a list of exactly one tensor ({INPUT_NAME!r})")
    outputs = doc.get("outputs")
    if outputs is not None:
        if not isinstance(outputs, list) or not all(
            isinstance(o, dict) and o.get("name") == OUTPUT_NAME for o in outputs
        ):
            raise OipError(400, f"'outputs' may only request {OUTPUT_NAME!r}")
    t = inputs[0]
    if t.get("name") != INPUT_NAME:
        raise OipError(400, f"the input tensor must be named {INPUT_NAME!r}")
    if t.get("datatype") != spec.datatype:
        raise OipError(422, f"datatype must be {spec.datatype}, got {str(t.get('datatype'))[:20]}")
    shape = t.get("shape")
    if (
        not isinstance(shape, list)
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise OipError(400, "'shape' must be a list of non-negative integers")
    want = [-1, *spec.shape]
    if len(shape) != len(want) or list(shape[1:]) != list(spec.shape):
        raise OipError(422, f"shape must be [M, {', '.join(map(str, spec.shape))}], got {shape}")
    rows = shape[0]
    if rows < 1:
        raise OipError(422, "the batch must hold at least one row")
    if rows > max_rows:
        raise OipError(413, f"{rows} rows in one request; at most {max_rows}")
    params = t.get("parameters") or {}
    if not isinstance(params, dict):
        raise OipError(400, "'parameters' must be an object")
    if "binary_data_size" in params:
        return InferRequest(req_id, _binary_tensor(params["binary_data_size"], binary, rows, spec))
    if binary:
        raise OipError(400, "binary data after the JSON header, but no input declares it")
    data = t.get("data")
    if not isinstance(data, list):
        raise OipError(400, "'data' must be a JSON array")
    try:
        arr = np.array(data)
    except ValueError:  # ragged nesting
        raise OipError(400, "'data' must be numbers, flat or nested evenly") from None
    if arr.dtype.kind not in "fi" or (
        (b"true" in body or b"false" in body) and _holds_bool(data)
    ):
        raise OipError(400, "'data' must hold only numbers")
    if arr.size != rows * spec.row_size:
        raise OipError(
            422, f"'data' holds {arr.size} numbers but shape {shape} needs {rows * spec.row_size}"
        )
    if not np.isfinite(arr).all():
        raise OipError(422, "'data' contains NaN or Inf")
    with np.errstate(over="ignore"):
        x = arr.astype(np.float32).reshape(rows, *spec.shape)
    if not np.isfinite(x).all():
        raise OipError(422, "'data' holds a number outside the float32 range")
    return InferRequest(req_id, x)


def _binary_tensor(size: object, binary: bytes, rows: int, spec: TensorSpec) -> np.ndarray:
    """The input of the binary tensor data extension: little-endian FP32, row-major."""
    need = 4 * rows * spec.row_size
    if not isinstance(size, int) or isinstance(size, bool) or size != len(binary):
        raise OipError(400, "binary_data_size does not match the bytes after the JSON header")
    if size != need:
        raise OipError(422, f"{size} bytes of binary data but shape needs {need} (FP32)")
    x = np.frombuffer(binary, dtype="<f4").astype(np.float32).reshape(rows, *spec.shape)
    if not np.isfinite(x).all():
        raise OipError(422, "the binary data contains NaN or Inf")
    return x


def _holds_bool(data: list) -> bool:
    """Whether nested lists hold a JSON true/false (numpy would read it as 1.0/0.0)."""
    stack = [data]
    while stack:
        for v in stack.pop():
            if isinstance(v, bool):
                return True
            if isinstance(v, list):
                stack.append(v)
    return False


def encode_infer_response(model_name: str, request_id: str | None, probs: np.ndarray) -> bytes:
    """The inference response for ``probs`` float64[M, N] (rows in request order)."""
    doc: dict[str, Any] = {
        "model_name": model_name,
        "model_version": MODEL_VERSION,
        "outputs": [
            {
                "name": OUTPUT_NAME,
                "shape": list(probs.shape),
                "datatype": "FP64",
                "data": probs.ravel().tolist(),
            }
        ],
    }
    if request_id is not None:
        doc["id"] = request_id
    return json.dumps(doc, separators=(",", ":")).encode()


def model_metadata(model_name: str, spec: TensorSpec, classes: int, platform: str) -> dict:
    """``GET /v2/models/NAME``: the model's input and output tensors (-1: any batch size)."""
    return {
        "name": model_name,
        "versions": [MODEL_VERSION],
        "platform": platform,
        "inputs": [{"name": INPUT_NAME, "datatype": spec.datatype, "shape": [-1, *spec.shape]}],
        "outputs": [{"name": OUTPUT_NAME, "datatype": "FP64", "shape": [-1, classes]}],
    }


def error_body(reason: str) -> bytes:
    return json.dumps({"error": reason}).encode()
