"""Running a service's ASGI app and its admin app (metrics, health) side by side in one process.

Every server runs with the transport limits of the app's guard (``inferwatch.guard``; its admin app with the same
limits, an app without a guard with the defaults of ``inferwatch.limits.HttpLimits``).

SIGTERM/SIGINT stop both servers gracefully; the caller then stops its core object (which drains
delivery), so a rolling restart loses nothing that was accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any, Literal

import uvicorn

from inferwatch.guard import HttpGuard, guard_of
from inferwatch.limits import HttpLimits

Side = tuple[Any, str, int]
"""Another app served alongside the main one: ``(app, host, port)``."""


class _AdminServer(uvicorn.Server):
    """Leaves signal handling to the main server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def config(
    app: Any,
    host: str,
    port: int,
    lifespan: Literal["on", "off"] = "on",
    proxy: bool = False,
    guard: HttpGuard | None = None,
) -> uvicorn.Config:
    """uvicorn's configuration of one server: the HTTP protocol of ``guard`` (else the app's own, else defaults)
    enforces the header limits and header timeout (``inferwatch.guard``)."""
    guard = guard_of(app) or guard or HttpGuard(HttpLimits())
    # a proxy passes the model's own Server/Date headers through: uvicorn must not add a second pair
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan=lifespan,
        server_header=not proxy,
        date_header=not proxy,
        http=guard.protocol(),
        h11_max_incomplete_event_size=guard.limits.header_bytes,
    )


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (``uvicorn[standard]`` brings it): ~10 % less CPU per proxied request."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def serve(
    app: Any,
    host: str,
    port: int,
    admin_app: Any = None,
    admin_port: int = 0,
    *,
    side: Sequence[Side] = (),
    when_started: Callable[[], Awaitable[bool]] | None = None,
    proxy: bool = False,
) -> None:
    """Serve ``app`` (and ``admin_app`` on ``admin_port`` when given, and every ``side`` app) until a stop
    signal reaches the main server; the others then stop too. ``when_started`` runs once every server
    listens; if it returns True, everything stops. ``proxy``: the main app relays another server's
    responses, so uvicorn adds no Server/Date headers of its own."""
    main = uvicorn.Server(config(app, host, port, "on", proxy))
    others = [_AdminServer(config(a, h, p, "on")) for a, h, p in side]
    if admin_app and admin_port:
        others.append(_AdminServer(config(admin_app, host, admin_port, "off", guard=guard_of(app))))
    tasks = [asyncio.create_task(s.serve()) for s in others]

    async def _after_start() -> None:
        servers = [main, *others]
        while not all(s.started for s in servers):
            if main.should_exit:
                return
            await asyncio.sleep(0.05)
        if when_started is not None and await when_started():
            main.should_exit = True

    watcher = asyncio.create_task(_after_start())
    try:
        await main.serve()
    finally:
        watcher.cancel()
        for s in others:
            s.should_exit = True
        await asyncio.gather(watcher, *tasks, return_exceptions=True)


def run(
    app: Any,
    host: str,
    port: int,
    admin_app: Any = None,
    admin_port: int = 0,
    *,
    side: Sequence[Side] = (),
    when_started: Callable[[], Awaitable[bool]] | None = None,
    proxy: bool = False,
) -> None:
    """Blocking ``serve``; stop signals end it normally instead of killing the process."""
    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGTERM, signal.SIGINT)}
    # Servers allocate many short-lived objects per request; the default gen-0 threshold (700) spent
    # ~6 % of the logger's CPU in the collector (bench/logger profile).
    gc.set_threshold(100_000, 50, 100)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(serve(app, host, port, admin_app, admin_port, side=side, when_started=when_started, proxy=proxy))
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
