"""The OpenAPI document of proxy mode (``ProxyApp.openapi()``).

The proxy forwards every method and path to the model unchanged, so it serves no document of its own (``/openapi.json``
belongs to the model). This one describes the model-server routes it is usually put in front of, with their bodies
(``inferwatch.protocols.schemas``), and the errors the proxy itself answers when the model cannot.
"""

from __future__ import annotations

from typing import Any

from inferwatch import __version__
from inferwatch.protocols import schemas as oas

_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_FORWARDED = {"default": {"description": "the model's answer, forwarded unchanged (plus x-request-id)"}}
_ROUTES: tuple[tuple[str, str, oas.Schema, str], ...] = (
    ("/api/v1.0/predictions", "Seldon prediction", oas.SELDON_MESSAGE, "A Seldon message"),
    ("/predict", "Seldon microservice prediction", oas.SELDON_MESSAGE, "A Seldon message"),
    ("/api/v1.0/feedback", "Seldon feedback", oas.SELDON_FEEDBACK, "A Seldon Feedback message"),
    ("/v1/models/{name}:predict", "KServe v1 prediction", oas.KSERVE_V1_REQUEST, "A KServe v1 body"),
    ("/v2/models/{name}/infer", "V2 inference", oas.V2_INFERENCE_REQUEST, "A V2 inference request"),
)


def proxy_openapi(title: str = "inferwatch logger (proxy)") -> dict[str, Any]:
    """A valid OpenAPI 3.1 document of the routes the proxy typically forwards."""
    errors = oas.error_responses(502, 504)
    paths: dict[str, Any] = {}
    for path, summary, schema, description in _ROUTES:
        operation: dict[str, Any] = {
            "summary": f"{summary}, forwarded to the model and recorded",
            "operationId": "forward_" + "".join(c if c.isalnum() else "_" for c in path).strip("_"),
            "requestBody": oas.request_body(schema, description),
            "responses": {**_FORWARDED, **errors},
        }
        if "{name}" in path:
            operation["parameters"] = [_NAME]
        paths[path] = {"post": operation}
    return {"openapi": "3.1.0", "info": {"title": title, "version": __version__}, "paths": paths}
