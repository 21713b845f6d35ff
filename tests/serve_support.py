"""Test fixtures for the prediction server: a small deterministic model, a watermark backend
that records what it consumed and fails on command, and the independent oracle.

The oracle recomputes an answer from first principles: the model's softmax in numpy, SPEC §2
fixed point, and the bit-exact reference ``alter`` fed with keystream words taken directly
from Trivium at the positions the request occupied. It shares nothing with the server's code
path (the batcher, the supervisor, the protocol module).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable

import httpx
import numpy as np

from dynamarks.host.driver import Backend, BackendError, DeviceLockedError
from dynamarks.host.fixedpoint import to_fixed, to_float
from dynamarks.host.params import Params, keygen
from dynamarks.host.reference import ReferenceUnit, alter
from dynamarks.host.trivium import Trivium

CLASSES = 10
SHAPE = (1, 4, 4)


class LinearModel:
    """softmax(x.flatten() @ W + b) in float64: confident enough that many rows fall in the
    unit's windows. ``nan_above``: inputs with a value above it make the model output NaN
    (a model that overflows on an extreme input)."""

    classes = CLASSES
    input_shape = SHAPE

    def __init__(self, seed: int = 0, nan_above: float = 1e6) -> None:
        rng = np.random.default_rng(seed)
        self.w = rng.normal(0, 1.5, (int(np.prod(SHAPE)), CLASSES))
        self.b = rng.normal(0, 1.0, CLASSES)
        self.nan_above = nan_above
        self.calls = 0

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.calls += 1
        return softmax_oracle(self, x)


def softmax_oracle(model: LinearModel, x: np.ndarray) -> np.ndarray:
    z = x.reshape(len(x), -1).astype(np.float64) @ model.w + model.b
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    p[(x.reshape(len(x), -1) > model.nan_above).any(axis=1)] = np.nan
    return p


class Device:
    """The "hardware" behind :class:`FakeBackend`: it outlives a backend object, as a board
    does. It records every vector it consumed (``log``, in keystream order) and fails on
    command: ``fail_calls`` (the k-th process call overall raises; with ``consume_on_fail``
    the vectors were consumed but the reply is lost), ``locked`` (opening is refused, like a
    locked board, until ``reset()``), ``gate`` (process waits until the event is set)."""

    def __init__(self, params: Params) -> None:
        self.params = params
        self.log: list[np.ndarray] = []
        self.calls = 0
        self.fail_calls: set[int] = set()
        self.consume_on_fail = False
        self.locked = False
        self.open_count = 0
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def reset(self) -> None:
        self.locked = False

    def open(self) -> FakeBackend:
        if self.locked:
            raise DeviceLockedError("the device is locked; reset it to configure")
        self.open_count += 1
        self.locked = True  # configured and locked, as the serial backend does
        return FakeBackend(self)


class FakeBackend(Backend):
    name = "fake"

    def __init__(self, device: Device) -> None:
        super().__init__(device.params)
        self.device = device
        self._unit = ReferenceUnit(device.params)  # a fresh configuration: position 0

    def _process(self, p: np.ndarray) -> np.ndarray:
        d = self.device
        d.entered.set()
        if d.gate is not None:
            d.gate.wait(30)
        call = d.calls
        d.calls += 1
        if call in d.fail_calls:
            if d.consume_on_fail:
                self._unit.process(p)
            raise BackendError("the device stopped answering")
        out = self._unit.process(p)
        d.log.append(p.copy())
        return out


def make_params(seed: int = 7) -> Params:
    return keygen(CLASSES, 16, seed=seed)


def keystream_words(params: Params, count: int) -> np.ndarray:
    """Keystream words 0..count-1 straight from Trivium (SPEC §6: 32 bits per vector)."""
    return np.frombuffer(Trivium(params.key, params.iv).keystream(4 * count), dtype="<u4")


def expected_answer(model: LinearModel, params: Params, x: np.ndarray, words: np.ndarray) -> (
    np.ndarray
):
    """What the API must answer for ``x`` when its rows sit at keystream ``words``."""
    codes = to_fixed(softmax_oracle(model, x), params.width, params.classes)
    return to_float(alter(params, codes, words).out, params.width)


def infer_body(x: np.ndarray, **override) -> dict:
    t = {"name": "input", "shape": list(x.shape), "datatype": "FP32",
         "data": x.astype(np.float64).ravel().tolist()}
    t.update(override)
    return {"inputs": [t]}


def metric(text: str, name: str) -> float:
    """The value of an unlabelled sample ``name`` in Prometheus text."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


def run_with_client(app, body: Callable[[httpx.AsyncClient], object]):
    """Run ``await body(client)`` with an in-process HTTP client of ``app`` (no sockets)."""

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await body(client)

    return asyncio.run(main())


def json_body(r: httpx.Response) -> dict:
    return json.loads(r.content)
