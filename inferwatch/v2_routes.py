"""The V2 (Open Inference Protocol) surface a service serving one model answers where V2 clients probe it:
``GET /v2``, ``/v2/models/NAME``, ``/v2/models/NAME/ready``, ``/v2/health/live`` and ``/v2/health/ready``.

Shared by the detector and the explainer; each gives its model's name, its metadata and its probes. A model name
that is not the served one is a 404 naming the one that is (``served``, also for the service's own infer route).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from inferwatch import __version__
from inferwatch.errors import ModelNotFound
from inferwatch.health import Health
from inferwatch.protocols import schemas as oas
from inferwatch.web import health_report


def served(name: str, model_name: str) -> None:
    """``ModelNotFound`` (404, naming ``model_name``) unless ``name`` is the served model."""
    if name != model_name:
        raise ModelNotFound(name, model_name)


def add_v2_routes(
    app: FastAPI,
    model_name: str,
    metadata: Callable[[], dict[str, Any]],
    probes: Health,
    *,
    extensions: Sequence[str] = (),
    what: str = "the service",
) -> None:
    """The V2 metadata and health routes of ``app`` for ``model_name``: ``metadata()`` is the model metadata
    (name, versions, platform, inputs, outputs); readiness and liveness come from ``probes``; ``extensions`` are
    the V2 extensions the server implements; ``what`` names the service in the route summaries."""
    not_found = oas.error_responses(404)

    @app.get("/v2", summary="V2 server metadata", responses={200: oas.json_response(oas.V2_SERVER_METADATA)})
    async def server_metadata() -> dict[str, Any]:
        return {"name": "inferwatch", "version": __version__, "extensions": list(extensions)}

    @app.get(
        "/v2/models/{name}",
        summary=f"V2 model metadata of {what}",
        responses={200: oas.json_response(oas.V2_MODEL_METADATA), **not_found},
    )
    async def model_metadata(name: str) -> dict[str, Any]:
        served(name, model_name)
        return metadata()

    @app.get(
        "/v2/models/{name}/ready",
        summary=f"V2 model readiness: 503 while {what} cannot do its job",
        responses={200: oas.json_response(oas.V2_MODEL_READY), **not_found},
    )
    async def model_ready(name: str) -> JSONResponse:
        served(name, model_name)
        ready = bool((await health_report(probes))["ready"])
        return JSONResponse({"name": name, "ready": ready}, 200 if ready else 503)

    @app.get("/v2/health/live", summary="Liveness (V2)")
    async def live() -> JSONResponse:
        is_live = bool(probes.live_report()["live"])
        return JSONResponse({"live": is_live}, 200 if is_live else 503)

    @app.get("/v2/health/ready", summary=f"Readiness (V2): 503 while {what} cannot do its job")
    async def ready() -> JSONResponse:
        is_ready = bool((await health_report(probes))["ready"])
        return JSONResponse({"ready": is_ready}, 200 if is_ready else 503)
