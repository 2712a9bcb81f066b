"""What every inferwatch HTTP service shares: the error handler, the health answers and the admin (metrics/health)
app."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool

from inferwatch.errors import InferwatchError, LimitExceeded
from inferwatch.guard import SCOPE_KEY, HttpGuard
from inferwatch.health import Health
from inferwatch.metrics import render

log = logging.getLogger("inferwatch.web")
T = TypeVar("T")
OFF_LOOP_BYTES = 64 << 10
"""Bodies larger than this are decoded in the thread pool (``off_loop``)."""


def install_error_handler(app: FastAPI) -> None:
    """One handler: ``InferwatchError`` -> its status and ``{"error": {...}}``; validation -> 422. A
    ``LimitExceeded`` is counted on the guard of the request (``inferwatch.guard``)."""

    @app.exception_handler(InferwatchError)
    async def _inferwatch_error(request: Request, exc: InferwatchError) -> JSONResponse:
        if isinstance(exc, LimitExceeded) and isinstance(guard := request.scope.get(SCOPE_KEY), HttpGuard):
            guard.count(exc.limit)
        if exc.status_code >= 500:
            log.error("%s: %s", type(exc).__name__, exc.message)
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        body = {"error": {"type": "ValidationError", "message": "invalid request", "details": exc.errors()}}
        return JSONResponse(body, status_code=422)


async def off_loop(size: int, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the thread pool when it decodes a body over ``OFF_LOOP_BYTES`` (``size``), so a large body
    does not stall every other request on the event loop; small ones are decoded in place (cheaper)."""
    if size > OFF_LOOP_BYTES:
        return await run_in_threadpool(fn, *args)
    return fn(*args)


def live_response(health: Health) -> JSONResponse:
    """``200`` while every liveness check passes, else ``503`` (Kubernetes restarts the container); the body says
    which failed and why."""
    body = health.live_report()
    return JSONResponse(body, status_code=200 if body["live"] else 503)


async def health_report(health: Health) -> dict[str, object]:
    """``health.report()`` off the event loop: a detail check may ask a sink over the network (its client's own
    timeout), and the loop serves predictions meanwhile."""
    return await run_in_threadpool(health.report)


async def ready_response(health: Health) -> JSONResponse:
    """``200`` while the service is live and every readiness check passes, else ``503`` (no traffic is sent to
    it); the body has every check, details included."""
    body = await health_report(health)
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


def create_admin_app(title: str, registry: CollectorRegistry, health: Health) -> FastAPI:
    """The admin app served on ``--metrics-port``: ``/metrics``, ``/health/live``, ``/health/ready``."""
    app = FastAPI(title=f"{title} (admin)")

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        body, content_type = render(registry)
        return Response(body, media_type=content_type)

    @app.get("/health/live", summary="Liveness: 503 once a worker the process needs has died")
    async def live() -> JSONResponse:
        return live_response(health)

    @app.get("/health/ready", summary="Readiness: 503 while the service cannot do its job; every check in the body")
    async def ready() -> JSONResponse:
        return await ready_response(health)

    return app
