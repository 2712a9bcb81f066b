"""What every inferwatch HTTP service shares: the error handler and the admin (metrics/health) app."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry

from inferwatch.errors import InferwatchError
from inferwatch.metrics import render

log = logging.getLogger("inferwatch.web")


def install_error_handler(app: FastAPI) -> None:
    """One handler: ``InferwatchError`` -> its status and ``{"error": {...}}``; validation -> 422."""

    @app.exception_handler(InferwatchError)
    async def _inferwatch_error(_: Request, exc: InferwatchError) -> JSONResponse:
        if exc.status_code >= 500:
            log.error("%s: %s", type(exc).__name__, exc.message)
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        body = {"error": {"type": "ValidationError", "message": "invalid request", "details": exc.errors()}}
        return JSONResponse(body, status_code=422)


def create_admin_app(title: str, registry: CollectorRegistry, health: Callable[[], dict[str, object]]) -> FastAPI:
    """The admin app served on ``--metrics-port``: ``/metrics``, ``/health/live``, ``/health/ready``."""
    app = FastAPI(title=f"{title} (admin)")

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        body, content_type = render(registry)
        return Response(body, media_type=content_type)

    @app.get("/health/live", summary="Liveness")
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/health/ready", summary="Readiness, with the health of every sink")
    async def ready() -> JSONResponse:
        h = health()
        return JSONResponse(h, status_code=200 if h.get("ok") else 503)

    return app
