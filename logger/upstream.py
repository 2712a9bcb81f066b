"""A lean HTTP/1.1 client for the proxy's buffered requests: pooled keep-alive connections, httptools parsing.

The proxy forwards almost every request with its body already in memory. For those, a general client
(aiohttp) spends more CPU per call than the rest of the proxy together; this one writes the request in one
``transport.write`` and parses the answer with httptools (the parser uvicorn uses on the server side). The
response body may still be streamed: chunks are queued as they arrive, with ``pause_reading`` above
``HIGH_WATER`` bytes so a large answer never sits in memory whole.

Errors: ``ConnectionError``/``OSError`` when the model cannot be reached or drops the connection,
``StaleConnection`` (a ``ConnectionError``) when a pooled connection turns out to be closed before any
byte of the answer (safe to send again), ``TimeoutError`` past the deadline, ``BrokenResponse`` when the
answer is cut or unparseable.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import cast
from urllib.parse import urlsplit

import httptools

HIGH_WATER = 1 << 20
"""Bytes of a response body queued before reading from the model pauses."""
LOW_WATER = HIGH_WATER // 4
MAX_IDLE = 256
"""Idle keep-alive connections kept per upstream."""


class StaleConnection(ConnectionError):
    """A pooled connection was closed by the model before it answered; the request can be sent again."""


class BrokenResponse(ConnectionError):
    """The model's answer broke off or was not valid HTTP."""


class UpstreamResponse:
    """Status and headers of an answer, its body read whole (``read``) or as it arrives (``chunks``)."""

    __slots__ = (
        "_buffered",
        "_conn",
        "_deadline",
        "_done",
        "_error",
        "_paused",
        "_queue",
        "_wakeup",
        "content_encoding",
        "content_length",
        "content_type",
        "keep_alive",
        "raw_headers",
        "status",
        "until_close",
    )

    def __init__(self, conn: _Connection, deadline: float) -> None:
        self._conn = conn
        self._deadline = deadline
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.content_length: int | None = None
        self.content_type: str | None = None
        self.content_encoding: str | None = None
        self.keep_alive = False
        self.until_close = False
        """No length and not chunked: the body ends when the model closes the connection."""
        self._queue: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._paused = False
        self._done = False
        self._error: BaseException | None = None
        self._wakeup: asyncio.Event | None = None

    async def read(self) -> bytes:
        """The whole body."""
        parts = [chunk async for chunk in self.chunks()]
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def chunks(self) -> AsyncIterator[bytes]:
        """Body chunks as they arrive; raises ``BrokenResponse`` if the answer breaks off."""
        while True:
            if self._queue:
                chunk = self._queue.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered < LOW_WATER:
                    self._paused = False
                    self._conn.resume_reading()
                yield chunk
            elif self._done:
                return
            elif self._error is not None:
                raise self._error
            else:
                self._wakeup = asyncio.Event()
                async with asyncio.timeout_at(self._deadline):
                    await self._wakeup.wait()

    def release(self) -> None:
        """Give the connection back to the pool if the answer is complete and reusable, else close it."""
        self._conn.finished(self._done and self.keep_alive and self._error is None)

    def _feed(self, chunk: bytes) -> None:
        self._queue.append(chunk)
        self._buffered += len(chunk)
        if not self._paused and self._buffered > HIGH_WATER:
            self._paused = True
            self._conn.pause_reading()
        self._wake()

    def _finish(self, error: BaseException | None = None) -> None:
        if error is None:
            self._done = True
        elif not self._done:
            self._error = error
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None


class _Connection(asyncio.Protocol):
    """One keep-alive connection to the model and the httptools parser of its answers."""

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.response: UpstreamResponse | None = None
        self.head: asyncio.Future[UpstreamResponse] | None = None
        self.received = False
        self._can_write = asyncio.Event()
        self._can_write.set()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(BrokenResponse(f"invalid HTTP from the model server: {e}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._can_write.set()
        resp = self.response
        if resp is not None and resp.until_close and self.head is not None and self.head.done():
            resp._finish()  # a body framed by the connection's end is complete now
        elif not self.received and self.head is not None:
            self._fail(StaleConnection("the model server closed the connection before answering"))
        else:
            self._fail(BrokenResponse(f"the model server closed the connection mid-answer{f': {exc}' if exc else ''}"))
        self.pool.forget(self)

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # httptools callbacks
    def on_message_begin(self) -> None:
        assert self.response is not None
        self.response.raw_headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.response is not None
        self.response.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        resp = self.response
        assert resp is not None
        resp.status = self.parser.get_status_code()
        if 100 <= resp.status < 200 and resp.status != 101:
            return  # informational (100 Continue...): the real answer follows on the same connection
        resp.keep_alive = self.parser.should_keep_alive()
        framed = False
        for name, value in resp.raw_headers:
            lname = name.lower()
            if lname == b"content-type":
                resp.content_type = value.decode("latin-1")
            elif lname == b"content-encoding":
                resp.content_encoding = value.decode("latin-1")
            elif lname == b"content-length":
                framed = True
                try:
                    resp.content_length = int(value)
                except ValueError:
                    resp.content_length = None
            elif lname == b"transfer-encoding":
                framed = b"chunked" in value.lower()
                resp.content_length = None
        resp.until_close = not framed and resp.status not in (204, 304)
        if self.head is not None and not self.head.done():
            self.head.set_result(resp)

    def on_body(self, body: bytes) -> None:
        assert self.response is not None
        self.response._feed(body)

    def on_message_complete(self) -> None:
        assert self.response is not None
        if not (100 <= self.response.status < 200 and self.response.status != 101):
            self.response._finish()

    # used by UpstreamPool / UpstreamResponse
    async def send(self, data: bytes, deadline: float) -> UpstreamResponse:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.received = False
        self.response = UpstreamResponse(self, deadline)
        self.head = loop.create_future()
        self.transport.write(data)
        async with asyncio.timeout_at(deadline):
            return await self.head

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def finished(self, reusable: bool) -> None:
        self.head = None
        self.response = None
        if reusable and not self.closed:
            self.pool.give_back(self)
        else:
            self.close()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def _fail(self, error: BaseException) -> None:
        if self.head is not None and not self.head.done():
            self.head.set_exception(error)
        if self.response is not None:
            self.response._finish(error)


class UpstreamPool:
    """Keep-alive connections to one ``http://host:port`` model server.

    ``request`` sends a request whose body is in memory and returns once the answer's head arrived; the
    caller reads the body and must ``release()`` the response. A stale pooled connection is retried once on
    a fresh one (the body is in memory, so sending it again is safe).
    """

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"UpstreamPool speaks plain http://host:port, got {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.host_header = parts.netloc.encode("latin-1")
        self.prefix = parts.path.rstrip("/").encode("latin-1")
        self.timeout = timeout
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self.retried = 0
        """Requests sent again after a stale pooled connection (for the proxy's metrics)."""

    async def request(
        self, method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> UpstreamResponse:
        """Send ``method target`` (path and query) with ``headers`` (hop-by-hop already removed) and ``body``."""
        head = [method.encode("latin-1"), b" ", self.prefix, target, b" HTTP/1.1\r\nhost: ", self.host_header]
        for name, value in headers:
            head += (b"\r\n", name, b": ", value)
        if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            head += (b"\r\ncontent-length: ", str(len(body)).encode())
        head.append(b"\r\n\r\n")
        data = b"".join(head) + body if body else b"".join(head)
        deadline = asyncio.get_running_loop().time() + self.timeout
        conn, reused = await self._acquire(deadline)
        try:
            return await conn.send(data, deadline)
        except StaleConnection:
            conn.close()
            if not reused:
                raise
            self.retried += 1
            conn, _ = await self._acquire(deadline, fresh=True)
            try:
                return await conn.send(data, deadline)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            conn.close()
            raise

    async def _acquire(self, deadline: float, fresh: bool = False) -> tuple[_Connection, bool]:
        while self._idle and not fresh:
            conn = self._idle.pop()
            if not conn.closed:
                return conn, True
        loop = asyncio.get_running_loop()
        async with asyncio.timeout_at(deadline):
            _, proto = await loop.create_connection(lambda: _Connection(self), self.host, self.port)
        self._open.add(proto)
        return proto, False

    def give_back(self, conn: _Connection) -> None:
        if len(self._idle) < MAX_IDLE:
            self._idle.append(conn)
        else:
            conn.close()

    def forget(self, conn: _Connection) -> None:
        self._open.discard(conn)
        if conn in self._idle:
            self._idle.remove(conn)

    async def close(self) -> None:
        """Close every connection (idle or in use)."""
        for conn in list(self._open):
            conn.close()
        self._idle.clear()
        self._open.clear()
