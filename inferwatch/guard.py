"""The transport limits of ``inferwatch.limits`` as every HTTP service enforces them, before any of its work is done.

Two parts, both built from one ``HttpGuard`` (a service's ``HttpLimits`` and its rejection counter):

- ``HttpGuard.protocol()``: uvicorn's httptools protocol with what uvicorn lacks — a time limit on the request line
  and headers (from the connection, or from a request's first byte), and a cap on their bytes and count. These are
  answered before the app sees the request: 431, or 408 and the connection closed.
- ``Guarded(app, guard)``: ASGI middleware for the body. ``Content-Length`` over ``body_bytes`` is answered 413
  without calling the app; otherwise the app's ``receive`` raises ``LimitExceeded`` once the body grows past
  ``body_bytes`` or is not complete within ``body_timeout`` of the headers. A FastAPI app answers that with the
  project's error handler (``inferwatch.web``); from any other app the middleware answers it, if the answer has not
  begun. Either way the connection is closed after the answer: the rest of that body is never read.

``inferwatch.serve`` runs every app with its guard's protocol (``guard_of``); ``inferwatch.web.install_error_handler``
counts the limits a FastAPI app raises itself (JSON depth, decompression) on the same counter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httptools
import orjson
from prometheus_client import Counter
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from inferwatch import limits
from inferwatch.errors import LimitExceeded
from inferwatch.limits import HttpLimits

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SCOPE_KEY = "inferwatch.guard"
"""Where ``Guarded`` puts its guard in the ASGI scope (the error handler counts through it)."""


class HttpGuard:
    """A service's transport limits and the counter its rejections go to (``None``: not counted)."""

    def __init__(self, limits: HttpLimits, rejected: Counter | None = None) -> None:
        self.limits = limits
        self.rejected = rejected

    def count(self, limit: str) -> None:
        if self.rejected is not None:
            self.rejected.labels(limit).inc()

    def protocol(self) -> type[asyncio.Protocol]:
        """The uvicorn HTTP protocol class enforcing this guard's header limits and header timeout."""
        return type("GuardedHttpToolsProtocol", (_GuardedProtocol,), {"guard": self})


def guard_of(app: Any) -> HttpGuard | None:
    """The guard an app was built with (``Guarded``), or ``None``."""
    return app.guard if isinstance(app, Guarded) else None


def error_body(exc: LimitExceeded) -> bytes:
    """What a refused request is answered: the project's ``{"error": {...}}`` body."""
    return orjson.dumps(exc.to_dict())


class Guarded:
    """ASGI middleware: the body limits of ``guard`` around ``app`` (see the module doc). Other attributes are the
    wrapped app's (``Guarded(app, g).state`` is ``app.state``)."""

    def __init__(self, app: Any, guard: HttpGuard) -> None:
        self.app = app
        self.guard = guard

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[SCOPE_KEY] = self.guard
        lim = self.guard.limits
        if lim.body_bytes is not None and (_content_length(scope) or 0) > lim.body_bytes:
            exc = _too_large(lim.body_bytes)
            self.guard.count(exc.limit)
            await _answer(send, exc)
            return
        body = _Body(receive, lim)
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if body.refused:
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, body.receive, guarded_send)
        except LimitExceeded as exc:  # not answered by the app (not a FastAPI app)
            self.guard.count(exc.limit)
            if started:
                raise
            await _answer(send, exc)


class _Body:
    """A request's ``receive`` with ``body_bytes`` and ``body_timeout`` applied; ``refused`` once it raised."""

    __slots__ = ("deadline", "done", "limits", "receive_raw", "refused", "size")

    def __init__(self, receive: Receive, lim: HttpLimits) -> None:
        self.receive_raw = receive
        self.limits = lim
        self.deadline = time.monotonic() + lim.body_timeout
        self.size = 0
        self.done = False
        self.refused = False

    async def receive(self) -> Message:
        if self.done:  # after the body only a disconnect can come: no time limit on waiting for it
            return await self.receive_raw()
        try:
            async with asyncio.timeout(max(0.0, self.deadline - time.monotonic())):
                msg = await self.receive_raw()
        except TimeoutError:
            self.refused = True
            raise LimitExceeded(
                limits.READ_TIMEOUT,
                f"request body not received within {self.limits.body_timeout:g} s (--body-timeout)",
                status_code=408,
            ) from None
        if msg["type"] != "http.request":
            self.done = True
            return msg
        self.size += len(msg.get("body", b""))
        if self.limits.body_bytes is not None and self.size > self.limits.body_bytes:
            self.refused = True
            raise _too_large(self.limits.body_bytes)
        self.done = not msg.get("more_body", False)
        return msg


def _too_large(max_bytes: int) -> LimitExceeded:
    return LimitExceeded(limits.BODY_BYTES, f"request body is larger than {max_bytes} bytes (--max-body-bytes)")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _answer(send: Send, exc: LimitExceeded) -> None:
    body = error_body(exc)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus the header limits and header timeout of ``guard`` (a class attribute set
    by ``HttpGuard.protocol``)."""

    guard: HttpGuard

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._awaiting_head = False
        self._raw_head = 0
        self._head_bytes = 0
        self._head_count = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()  # uvicorn would hold a connection that never sends a byte

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._awaiting_head:
            self._raw_head += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as e:
            if isinstance(e.__context__, LimitExceeded):
                self._refuse(e.__context__)
            else:
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
            return
        # a header value arriving in pieces is buffered by the parser, which reports it only once it is complete
        if self._awaiting_head and self._raw_head > self.guard.limits.header_bytes:
            self._refuse(self._header_bytes_error())

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._head_count = 0
        self._await_head()

    def on_url(self, url: bytes) -> None:
        self._add_head_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_count += 1
        if self._head_count > self.guard.limits.header_count:
            raise LimitExceeded(
                limits.HEADER_COUNT,
                f"request has more than {self.guard.limits.header_count} header fields (--max-header-count)",
                status_code=431,
            )
        self._add_head_bytes(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._raw_head = 0
        self._cancel_head_timer()
        super().on_headers_complete()

    def _add_head_bytes(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > self.guard.limits.header_bytes:
            raise self._header_bytes_error()

    def _header_bytes_error(self) -> LimitExceeded:
        return LimitExceeded(
            limits.HEADER_BYTES,
            f"request line and headers are larger than {self.guard.limits.header_bytes} bytes (--max-header-bytes)",
            status_code=431,
        )

    def _await_head(self) -> None:
        self._awaiting_head = True
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.guard.limits.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._awaiting_head or self.transport.is_closing():
            return
        if self._raw_head == 0 and (self.cycle is None or self.cycle.response_complete):
            self.guard.count(limits.READ_TIMEOUT)
            self.transport.close()  # nothing was sent: no answer to give
            return
        timeout = self.guard.limits.header_timeout
        self._refuse(
            LimitExceeded(
                limits.READ_TIMEOUT,
                f"request headers not received within {timeout:g} s (--header-timeout)",
                status_code=408,
            )
        )

    def _refuse(self, exc: LimitExceeded) -> None:
        """Answer ``exc`` (unless an answer is under way on this connection) and close the connection."""
        self.guard.count(exc.limit)
        self._cancel_head_timer()
        self._awaiting_head = False
        busy = self.cycle is not None and not self.cycle.response_complete
        if not busy:
            body = error_body(exc)
            head = [STATUS_LINE[exc.status_code]]
            for name, value in self.server_state.default_headers:
                head += [name, b": ", value, b"\r\n"]
            head += [
                b"content-type: application/json\r\ncontent-length: ",
                str(len(body)).encode(),
                b"\r\nconnection: close\r\n\r\n",
                body,
            ]
            self.transport.write(b"".join(head))
        self.transport.close()
