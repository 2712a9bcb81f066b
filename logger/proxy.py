"""Proxy mode: a raw ASGI reverse proxy that forwards every request to the model unchanged.

Method, path, query, headers and body go upstream as they came (hop-by-hop headers aside); status,
headers and body come back as the model sent them, plus ``x-request-id``. Bodies up to
``STREAM_THRESHOLD`` are buffered (the fast path) and sent with the lean pooled client of
``inferwatch.logger.upstream``; larger or unsized request bodies (and ``HEAD``) are streamed through aiohttp. Either
way a large or unsized answer is streamed back while the first ``max_payload_bytes`` are captured. The
exchange goes to ``LoggerService.record`` once the response is complete; nothing on this path decodes
payloads or touches a sink.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any, Protocol

import aiohttp
import orjson

from inferwatch.capture import Body, Exchange
from inferwatch.errors import BadRequest, InferwatchError, LimitExceeded, UpstreamError, UpstreamTimeout
from inferwatch.ids import header_value, request_id_for
from inferwatch.logger.proxy_openapi import proxy_openapi
from inferwatch.logger.service import LoggerService
from inferwatch.logger.upstream import UpstreamPool
from inferwatch.protocols.headers import SKIP_LOGGING, X_REQUEST_ID
from inferwatch.protocols.v2_binary import HEADER_LENGTH, INVALID_LENGTH, valid_length

log = logging.getLogger("inferwatch.logger.proxy")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

STREAM_THRESHOLD = 16 * 1024 * 1024
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_HOP_BY_HOP_B = frozenset(h.encode() for h in HOP_BY_HOP)
_RESPONSE_DROP_B = _HOP_BY_HOP_B | {X_REQUEST_ID.encode()}
_SKIP_AUTO = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
_HEADER_LENGTH_B = HEADER_LENGTH.encode()
_ODD_TARGET = "{} {}: the proxy forwards requests for paths starting with '/' only (not asterisk-form targets)"


class ProxyApp:
    """ASGI app: ``ProxyApp(service)``; ``startup``/``shutdown`` manage the upstream connection pool."""

    def __init__(self, service: LoggerService) -> None:
        assert service.settings.upstream is not None, "proxy mode needs an upstream"
        self.service = service
        self.upstream: str = service.settings.upstream
        self.limit = service.settings.max_payload_bytes
        self.session: aiohttp.ClientSession | None = None
        self.pool: UpstreamPool | None = None
        self._probe: asyncio.Task[None] | None = None

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document of the forwarded model routes (not served: every path belongs to the model)."""
        return proxy_openapi()

    async def startup(self) -> None:
        """Open the upstream connection pools and start probing the model (the readiness probe's answer)."""
        if self.upstream.startswith("http://"):
            self.pool = UpstreamPool(self.upstream, self.service.settings.upstream_timeout)
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1024, ttl_dns_cache=300),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=self.service.settings.upstream_timeout),
            skip_auto_headers=_SKIP_AUTO,
        )
        if self.service.upstream_probe is not None:
            self._probe = asyncio.create_task(self.service.upstream_probe.run(), name="upstream-probe")
            self.service.probes.watch_task("upstream-probe", self._probe)

    async def shutdown(self) -> None:
        if self._probe is not None:
            self.service.probes.forget("upstream-probe")
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
        if self.pool is not None:
            await self.pool.close()
        if self.session is not None:
            await self.session.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        await self._proxy(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = time.time()
        start = time.perf_counter()
        if not scope["path"].startswith("/"):  # "OPTIONS *", "HEAD *": about this server, nothing to forward
            body = orjson.dumps(BadRequest(_ODD_TARGET.format(scope["method"], scope["path"])).to_dict())
            await _send_simple(send, 400, body, None)
            return
        raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers}
        method: str = scope["method"]
        path: str = scope["path"]
        query: bytes = scope.get("query_string", b"")
        logged = headers.get(SKIP_LOGGING, "").lower() != "true"
        if not logged:
            self.service.metrics.skipped.labels("skip_header").inc()
        logged = logged and self.service.sampled()

        size = _content_length(headers)
        buffered = size is not None and size <= STREAM_THRESHOLD
        req_capture = _Capture(self.limit)
        data: bytes | AsyncIterator[bytes]
        if buffered:
            data = await _read_all(receive)
            req_capture.add(data)
        else:
            data = _stream_request(receive, req_capture)
        rid = request_id_for(headers, data if isinstance(data, bytes) else None, path)

        ex = Exchange(
            request_id=rid,
            received_at=received,
            method=method,
            path=path,
            protocol=self.service.settings.protocol,
            model_name=self.service.settings.model_name,
            deployment=self.service.settings.deployment,
            namespace=self.service.settings.namespace,
            endpoint=self.service.settings.endpoint,
        )
        target = scope.get("raw_path") or path.encode()
        if query:
            target += b"?" + query
        fwd = [(k, v) for k, v in raw_headers if k.lower() not in _HOP_BY_HOP_B]
        status = 502
        try:
            try:
                resp = await self._send_upstream(method, target, fwd, data)
            except TimeoutError as e:
                raise UpstreamTimeout(
                    f"model server at {self.upstream} did not answer within {self.service.settings.upstream_timeout:g}s"
                ) from e
            except (aiohttp.ClientError, OSError) as e:
                if (limit := _limit_exceeded(e)) is not None:  # the client's body broke off, not the model
                    raise limit from e
                raise UpstreamError(f"model server at {self.upstream} is unreachable: {e}") from e
        except InferwatchError as e:
            if isinstance(e, LimitExceeded):
                raise  # answered by the guard (inferwatch.guard.Guarded)
            status = e.status_code
            self.service.metrics.upstream_errors.labels("timeout" if status == 504 else "unreachable").inc()
            body = orjson.dumps(e.to_dict())
            ex.error = e.message
            await self._finish(ex, logged, req_capture, headers, status, body, "application/json", None, start)
            await _send_simple(send, status, body, rid)
            return

        status = resp.status
        out_headers = [(k, v) for k, v in resp.raw_headers if k.lower() not in _RESPONSE_DROP_B]
        out_headers.append((X_REQUEST_ID.encode(), header_value(rid).encode("latin-1")))
        resp_type = resp.content_type
        resp_enc = resp.content_encoding
        resp_hlen = _header(resp.raw_headers, _HEADER_LENGTH_B)
        resp_size = resp.content_length
        resp_capture = _Capture(self.limit)
        finished = False
        try:
            if resp_size is not None and resp_size <= STREAM_THRESHOLD:
                body = await resp.read()
                resp_capture.add(body)
                out_headers.append((b"content-length", str(len(body)).encode()))
                # logged before answering: in sync mode this waits until the exchange is on disk
                finished = True
                await self._finish(
                    ex, logged, req_capture, headers, status, resp_capture, resp_type, resp_enc, start, resp_hlen
                )
                await send({"type": "http.response.start", "status": status, "headers": out_headers})
                await send({"type": "http.response.body", "body": body})
            else:
                await send({"type": "http.response.start", "status": status, "headers": out_headers})
                async for chunk in resp.chunks():
                    resp_capture.add(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                finished = True  # the response completes only once the exchange is logged
                await self._finish(
                    ex, logged, req_capture, headers, status, resp_capture, resp_type, resp_enc, start, resp_hlen
                )
                await send({"type": "http.response.body", "body": b""})
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as e:
            ex.error = f"model server response broke off: {e}"
            self.service.metrics.upstream_errors.labels("broken_response").inc()
        finally:
            resp.release()
        if not finished:
            await self._finish(
                ex, logged, req_capture, headers, status, resp_capture, resp_type, resp_enc, start, resp_hlen
            )

    async def _send_upstream(
        self, method: str, target: bytes, headers: list[tuple[bytes, bytes]], data: bytes | AsyncIterator[bytes]
    ) -> _Response:
        """One upstream call. A pooled keep-alive connection the model server has already closed (seen
        with MLServer after an unhandled error) fails before any byte is answered: a buffered request is
        then sent once more on a fresh connection; a streamed one cannot be replayed."""
        if self.pool is not None and isinstance(data, bytes) and method != "HEAD":
            retried = self.pool.retried
            try:
                return await self.pool.request(method, target, headers, data)
            finally:
                if self.pool.retried != retried:
                    self.service.metrics.upstream_errors.labels("stale_connection_retried").inc()
        assert self.session is not None, "startup() opens the session"
        url = self.upstream + target.decode("latin-1")
        fwd = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
        try:
            resp = await self.session.request(method, url, headers=fwd, data=data, allow_redirects=False)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            if not isinstance(data, bytes):
                raise
            self.service.metrics.upstream_errors.labels("stale_connection_retried").inc()
            resp = await self.session.request(method, url, headers=fwd, data=data, allow_redirects=False)
        return _AiohttpResponse(resp)

    async def _finish(
        self,
        ex: Exchange,
        logged: bool,
        req: _Capture,
        headers: dict[str, str],
        status: int,
        resp: _Capture | bytes,
        resp_type: str | None,
        resp_enc: str | None,
        start: float,
        resp_header_length: str | None = None,
    ) -> None:
        elapsed = time.perf_counter() - start
        self.service.metrics.proxy_seconds.labels(ex.method or "", str(status)).observe(elapsed)
        if not logged:
            return
        if isinstance(resp, bytes):
            cap = _Capture(self.limit)
            cap.add(resp)
            resp = cap
        ex.responded_at = ex.received_at + elapsed
        ex.status_code = status
        ex.request = req.body(headers.get("content-type"), headers.get("content-encoding"), headers.get(HEADER_LENGTH))
        ex.response = resp.body(resp_type, resp_enc, resp_header_length)
        await self.service.record_acked(ex)


class _Response(Protocol):
    """What the proxy needs of an upstream answer (``inferwatch.logger.upstream.UpstreamResponse`` or aiohttp's)."""

    status: int
    raw_headers: Any
    content_type: str | None
    content_encoding: str | None
    content_length: int | None

    async def read(self) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    def release(self) -> None: ...


class _AiohttpResponse:
    """An aiohttp response seen through ``_Response``."""

    __slots__ = ("_resp", "content_encoding", "content_length", "content_type", "raw_headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.raw_headers = resp.raw_headers
        self.content_type = resp.headers.get("content-type")
        self.content_encoding = resp.headers.get("content-encoding")
        self.content_length = resp.content_length

    async def read(self) -> bytes:
        return await self._resp.read()

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._resp.content.iter_any():
            yield chunk

    def release(self) -> None:
        self._resp.release()


class _Capture:
    """Keeps the first ``limit`` bytes of a body and counts the rest."""

    __slots__ = ("chunks", "kept", "limit", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.kept = 0
        self.chunks: list[bytes] = []

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        room = self.limit - self.kept
        if room > 0:
            part = chunk if len(chunk) <= room else chunk[:room]
            self.chunks.append(part)
            self.kept += len(part)

    def body(self, content_type: str | None, encoding: str | None, header_length: str | None = None) -> Body:
        raw = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        length = None if header_length is None else valid_length(header_length)
        if header_length is not None and length is None:
            length = INVALID_LENGTH  # recorded all the same, its decode error names the header
        return Body(raw, content_type, self.size, self.size > self.kept, encoding, length)


def _limit_exceeded(e: BaseException) -> LimitExceeded | None:
    """The transport limit (``inferwatch.guard``: the body timeout) behind an upstream error: a streamed request
    body stops when the client's ``receive`` raises, and aiohttp reports that as a failed send."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, LimitExceeded):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _header(raw_headers: Any, name: bytes) -> str | None:
    """One header of an upstream answer (``name`` lower-case), or ``None``."""
    for key, value in raw_headers:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _content_length(headers: dict[str, str]) -> int | None:
    if "transfer-encoding" in headers:
        return None
    value = headers.get("content-length")
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        return None


async def _read_all(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            break
        chunks.append(msg.get("body", b""))
        if not msg.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _stream_request(receive: Receive, capture: _Capture) -> AsyncIterator[bytes]:
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return
        chunk = msg.get("body", b"")
        if chunk:
            capture.add(chunk)
            yield chunk
        if not msg.get("more_body", False):
            return


async def _send_simple(send: Send, status: int, body: bytes, rid: str | None) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if rid is not None:
        headers.append((X_REQUEST_ID.encode(), header_value(rid).encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
