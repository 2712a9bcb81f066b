"""The black-box model client: async, pooled, retried, batched calls to a model server.

Speaks Seldon v1 (``/api/v1.0/predictions``), KServe v1 (``/v1/models/NAME:predict``) and V2
(``/v2/models/NAME/infer``, input names and datatypes read from ``GET /v2/models/NAME``). Bodies are
encoded and decoded only with the shared codecs. Every call carries ``Seldon-Skip-Logging: true`` so a
logger in front of the model does not record the explainer's perturbations.

``predict`` splits a large array into chunks of ``batch_size`` rows sent concurrently (at most
``max_concurrency`` in flight). Alibi calls its predictor synchronously from a worker thread; such a
thread calls ``predict_blocking``, which schedules ``predict`` on the client's event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np
import orjson
from numpy.typing import NDArray

from inferwatch.errors import CodecError, InferwatchError, UpstreamError, UpstreamTimeout
from inferwatch.protocols import KSERVE_V1, SELDON, V2, Payload, Tensor, get_codec
from inferwatch.protocols.datatypes import BYTES, widest_datatype
from inferwatch.protocols.v2 import TensorMetadata, array_tensor, metadata_tensors, request_payload

log = logging.getLogger("inferwatch.explainers.client")

SKIP_LOGGING = {"Seldon-Skip-Logging": "true", "Content-Type": "application/json"}
RETRY_STATUSES = frozenset({502, 503, 504})
MAX_BACKOFF = 2.0
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class ClientConfig:
    """Where the model is and how to call it."""

    url: str
    protocol: str = SELDON
    model_name: str = "model"
    model_output: str | None = None
    timeout: float = 30.0
    retries: int = 5
    backoff: float = 0.1
    batch_size: int = 5000
    max_concurrency: int = 4


_PATHS = {
    SELDON: "/api/v1.0/predictions",
    KSERVE_V1: "/v1/models/{name}:predict",
    V2: "/v2/models/{name}/infer",
}


def _datatype(x: NDArray[Any]) -> str:
    """The codec's widest datatype of ``x``'s kind, except unsigned integers: INT64, what this client has always sent
    (a model that declares its inputs gets its declared datatype instead)."""
    return "INT64" if x.dtype.kind == "u" else widest_datatype(x)


def _tensor(name: str, x: NDArray[Any], datatype: str | None = None) -> Tensor:
    """``x`` as ``datatype`` (the model's declared one; default ``_datatype``), numbers written as they are."""
    return array_tensor(name, x, datatype or _datatype(x))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class ModelClient:
    """One model behind one protocol. ``start`` on the event loop that will serve it; ``close`` at the end."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.url = config.url.rstrip("/") + _PATHS[config.protocol].format(name=config.model_name)
        self._codec = get_codec(config.protocol)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate: asyncio.Semaphore | None = None
        self._v2_inputs: list[TensorMetadata] | None = None
        self.calls = 0

    async def start(self) -> None:
        """Open the connection pool on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._gate = asyncio.Semaphore(self.config.max_concurrency)
        connector = aiohttp.TCPConnector(limit=self.config.max_concurrency, force_close=False)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self.config.timeout)
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def predict_blocking(
        self, x: Any, timeout: float | None = None, cancelled: threading.Event | None = None
    ) -> NDArray[Any]:
        """``predict`` from a thread that is not the client's loop (alibi's worker thread).

        Setting ``cancelled`` abandons the call at once (the request in flight is cancelled).
        """
        if self._loop is None:
            raise InferwatchError("model client is not started")
        if _running_loop() is self._loop:
            raise InferwatchError("predict_blocking would block the event loop: call it from a worker thread")
        future = asyncio.run_coroutine_threadsafe(self.predict(x), self._loop)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return future.result(POLL_SECONDS)
            except concurrent.futures.TimeoutError:
                if cancelled is not None and cancelled.is_set():
                    future.cancel()
                    raise UpstreamTimeout("explanation abandoned after its timeout") from None
                if deadline is not None and time.monotonic() > deadline:
                    future.cancel()
                    raise UpstreamTimeout(f"model at {self.url} did not answer within {timeout}s") from None

    async def predict(self, x: Any) -> NDArray[Any]:
        """Model outputs for every row of ``x``, in order, in chunks of ``batch_size`` rows."""
        arr = np.asarray(x)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        n, size = arr.shape[0], self.config.batch_size
        chunks = [arr[i : i + size] for i in range(0, n, size)] or [arr]
        parts = await asyncio.gather(*(self._call(c) for c in chunks))
        return np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]

    def _started(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        if self._session is None or self._gate is None:
            raise InferwatchError("model client is not started")
        return self._session, self._gate

    async def _call(self, x: NDArray[Any]) -> NDArray[Any]:
        _, gate = self._started()
        async with gate:
            body = orjson.dumps(self._codec.encode_request(await self._payload(x)), option=orjson.OPT_SERIALIZE_NUMPY)
            raw = await self._post(body)
        self.calls += 1
        return self._outputs(raw)

    async def _post(self, body: bytes) -> bytes:
        session, _ = self._started()
        delay = self.config.backoff
        for attempt in range(self.config.retries + 1):
            last = attempt == self.config.retries
            try:
                async with session.post(self.url, data=body, headers=SKIP_LOGGING) as resp:
                    raw = await resp.read()
                    if resp.status < 400:
                        return raw
                    if resp.status not in RETRY_STATUSES or last:
                        raise UpstreamError(
                            f"model at {self.url} answered {resp.status}: {self._error_message(raw)}",
                            details={"url": self.url, "status": resp.status},
                            retriable=False,
                        )
            except (TimeoutError, aiohttp.ServerTimeoutError) as e:
                if last:
                    raise UpstreamTimeout(
                        f"model at {self.url} did not answer within {self.config.timeout}s",
                        details={"url": self.url},
                    ) from e
            except aiohttp.ClientError as e:
                if last:
                    raise UpstreamError(f"model at {self.url} is unreachable: {e}", details={"url": self.url}) from e
            log.debug("model call to %s failed (attempt %d), retrying in %.2fs", self.url, attempt + 1, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)
        raise UpstreamError(f"model at {self.url} could not be called")  # not reached: the last attempt raises

    @staticmethod
    def _error_message(raw: bytes) -> str:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw.decode("utf-8", "replace")[:500]
        if isinstance(body, dict):
            status = body.get("status")
            if isinstance(status, dict) and status.get("info"):
                return str(status["info"])
            for key in ("error", "detail", "message"):
                if body.get(key):
                    return str(body[key])
        return str(body)[:500]

    async def _payload(self, x: NDArray[Any]) -> Payload:
        protocol = self.config.protocol
        if protocol == SELDON:
            return Payload(protocol, "request", [_tensor("data", x)])
        if protocol == KSERVE_V1:
            return Payload(protocol, "request", [_tensor("instances", x)])
        inputs = await self.v2_inputs()
        output = self.config.model_output
        return request_payload(self._v2_tensors(x, inputs), outputs=[output] if output else [])

    @staticmethod
    def _v2_tensors(x: NDArray[Any], inputs: list[TensorMetadata]) -> list[Tensor]:
        if len(inputs) <= 1:
            name = inputs[0].name if inputs else "input-0"
            datatype = inputs[0].datatype if inputs and _datatype(x) != BYTES else None
            return [_tensor(name, x, datatype)]
        cols = x.reshape(x.shape[0], -1)
        if cols.shape[1] != len(inputs):
            raise CodecError(f"model takes {len(inputs)} inputs, instances have {cols.shape[1]} features")
        return [_tensor(i.name, cols[:, [j]], i.datatype) for j, i in enumerate(inputs)]

    async def v2_inputs(self) -> list[TensorMetadata]:
        """The model's inputs from ``GET /v2/models/NAME`` (read once)."""
        if self._v2_inputs is None:
            session, _ = self._started()
            meta_url = f"{self.config.url.rstrip('/')}/v2/models/{self.config.model_name}"
            try:
                async with session.get(meta_url, headers=SKIP_LOGGING) as resp:
                    raw = await resp.read()
                    if resp.status >= 400:
                        raise UpstreamError(f"model metadata at {meta_url}: {resp.status} {self._error_message(raw)}")
            except aiohttp.ClientError as e:
                raise UpstreamError(f"model at {meta_url} is unreachable: {e}", details={"url": meta_url}) from e
            try:
                self._v2_inputs = metadata_tensors(orjson.loads(raw))
            except (orjson.JSONDecodeError, CodecError) as e:
                raise UpstreamError(
                    f"model metadata at {meta_url} is unreadable: {e}", details={"url": meta_url}
                ) from e
        return self._v2_inputs

    def _outputs(self, raw: bytes) -> NDArray[Any]:
        try:
            payload = self._codec.decode_response(orjson.loads(raw))
        except (orjson.JSONDecodeError, CodecError) as e:
            raise UpstreamError(f"model at {self.url} answered an unreadable body: {e}") from e
        if payload.error:
            raise UpstreamError(f"model at {self.url} failed: {payload.error}", retriable=False)
        tensors = payload.tensors
        if self.config.model_output:
            tensors = [t for t in tensors if t.name == self.config.model_output] or tensors
        if not tensors:
            raise UpstreamError(f"model at {self.url} answered no outputs")
        data = tensors[0].data
        out = data if isinstance(data, np.ndarray) else np.asarray(data, dtype=object).reshape(tensors[0].shape)
        # one value per instance (e.g. MLServer's [n, 1] "predict" labels) -> a 1-D array, as alibi expects
        return out.reshape(-1) if out.ndim == 2 and out.shape[1] == 1 else out
