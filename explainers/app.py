"""HTTP routes of the explainer: thin handlers that decode a request with the shared codecs and hand off
to ``ExplainerCore``.

- ``POST /api/v1.0/explain``, ``/api/v0.1/explain`` (Seldon message) and ``POST /v1/models/NAME:explain``
  (KServe v1 ``instances``): one instance answers its explanation (as Seldon's and KServe's alibi servers
  do); a batch answers ``{"explanations": [...]}``, one per instance.
- ``POST /v2/models/NAME/infer``: a V2 response whose ``explanation`` output (BYTES, ``content_type``
  ``str``) holds one JSON explanation per instance, as MLServer's alibi-explain runtime answers.
- ``POST /explain``: ``{"instances": [...], "parameters": {...}}`` -> ``{"explanations": [...]}``.
Explain parameters come from the body's ``parameters`` (V2: ``parameters.explain_parameters``, as
MLServer) or Seldon's ``meta.explain_parameters``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from inferwatch import ids, limits
from inferwatch.errors import BadRequest
from inferwatch.explainers.core import ExplainerCore
from inferwatch.explainers.results import ExplainerResults, explained_origin
from inferwatch.explainers.settings import ExplainerSettings
from inferwatch.guard import Guarded, HttpGuard
from inferwatch.protocols import KSERVE_V1, SELDON, V2, Payload, Tensor, get_codec
from inferwatch.protocols import schemas as oas
from inferwatch.protocols.headers import X_REQUEST_ID
from inferwatch.v2_routes import add_v2_routes, served
from inferwatch.web import create_admin_app, health_report, install_error_handler, live_response, off_loop


def _json(body: Any, status: int = 200, request_id: str | None = None) -> Response:
    headers = {X_REQUEST_ID: ids.header_value(request_id)} if request_id else None
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


async def _body(request: Request, max_depth: int) -> tuple[dict[str, Any], int]:
    """The JSON object of the body (parsed off the event loop when large) and the body's size in bytes."""
    raw = await request.body()
    return await off_loop(len(raw), _parse, raw, max_depth), len(raw)


def _parse(raw: bytes, max_depth: int) -> dict[str, Any]:
    try:
        body = limits.loads(raw, max_depth)
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"invalid JSON: {e}") from e
    if not isinstance(body, dict):
        raise BadRequest(f"body must be a JSON object, got {type(body).__name__}")
    return body


def _params(body: dict[str, Any]) -> dict[str, Any]:
    meta = body["meta"] if isinstance(body.get("meta"), dict) else {}
    params = body.get("parameters") or meta.get("explain_parameters") or {}
    if isinstance(params, dict) and "explain_parameters" in params:
        params = params["explain_parameters"]
    if not isinstance(params, dict):
        raise BadRequest("explain parameters must be a JSON object")
    return params


def _data(payload: Payload) -> Any:
    """The instances of a decoded request: its first tensor (several V2 inputs: one column each). 422 for a scalar,
    ragged rows or inputs of different batch sizes (``Payload.check_batch``)."""
    n = payload.check_batch()
    if len(payload.tensors) > 1:  # one column per named input
        return np.column_stack([np.asarray(t.data).reshape(n, -1) for t in payload.tensors])
    return payload.tensors[0].data


def _one_or_all(explanations: list[dict[str, Any]], request_id: str) -> Response:
    return _json(explanations[0] if len(explanations) == 1 else {"explanations": explanations}, request_id=request_id)


def create_app(settings: ExplainerSettings, core: ExplainerCore, results: ExplainerResults | None = None) -> Guarded:
    """The explainer's public app, behind its transport limits (``inferwatch.guard``); the core is started and
    stopped by the app's lifespan. With ``results`` every explanation is also published to the ``--results-sink``
    sinks. Large bodies are parsed and decoded off the event loop."""
    depth = settings.max_json_depth

    async def explain(
        request: Request, data: Any, params: dict[str, Any], body_id: str | None
    ) -> tuple[list[dict[str, Any]], str]:
        """The explanations and the request id they are recorded under (and answered with in ``x-request-id``)."""
        origin = explained_origin(request.headers, body_id, settings.protocol)
        explanations = await core.explain(data, params)
        if results is not None:
            results.publish(origin, explanations, len(core.instances(data)))
        assert origin.request_id is not None
        return explanations, origin.request_id

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            await core.start()
        except Exception as e:
            core.failure = e  # the CLI reports it and exits non-zero once the server has stopped
            await core.stop()
            raise
        try:
            yield
        finally:
            await core.stop()

    if results is not None:
        results.publisher.watch(core.probes)  # live only while result delivery runs
    app = FastAPI(title=f"inferwatch explainer ({settings.kind})", lifespan=lifespan)
    install_error_handler(app)
    seldon, kserve, v2 = get_codec(SELDON), get_codec(KSERVE_V1), get_codec(V2)

    async def seldon_explain(request: Request) -> Response:
        body, size = await _body(request, depth)
        payload = await off_loop(size, seldon.decode_request, {k: v for k, v in body.items() if k != "parameters"})
        return _one_or_all(*await explain(request, _data(payload), _params(body), payload.id))

    errors = oas.error_responses(*oas.BODY_ERRORS)
    seldon_doc = "A Seldon message; explain parameters in 'parameters' or meta.explain_parameters"
    for path in ("/api/v1.0/explain", "/api/v0.1/explain"):
        app.add_api_route(
            path,
            seldon_explain,
            methods=["POST"],
            summary="Explain a Seldon message: one explanation, or {explanations} for a batch",
            openapi_extra=oas.openapi_extra(oas.SELDON_EXPLAIN_REQUEST, seldon_doc),
            responses=errors,
        )

    @app.post(
        "/v1/models/{name}:explain",
        summary="Explain a KServe v1 body: one explanation, or {explanations} for a batch",
        openapi_extra=oas.openapi_extra(oas.KSERVE_V1_EXPLAIN_REQUEST, "A KServe v1 body plus explain 'parameters'"),
        responses=errors,
    )
    async def kserve_explain(name: str, request: Request) -> Response:
        body, size = await _body(request, depth)
        payload = await off_loop(size, kserve.decode_request, {k: v for k, v in body.items() if k != "parameters"})
        return _one_or_all(*await explain(request, _data(payload), _params(body), payload.id))

    @app.post(
        "/v2/models/{name}/infer",
        summary="Explain a V2 request: an 'explanation' BYTES output, one JSON explanation per instance",
        openapi_extra=oas.openapi_extra(
            oas.V2_INFERENCE_REQUEST, "A V2 inference request; explain parameters in parameters.explain_parameters"
        ),
        responses={
            200: oas.json_response(oas.V2_INFERENCE_RESPONSE),
            **oas.error_responses(*oas.BODY_ERRORS, 404),
        },
    )
    async def v2_explain(name: str, request: Request) -> Response:
        served(name, settings.model_name)
        body, size = await _body(request, depth)
        payload = await off_loop(size, v2.decode_request, body)
        params = payload.parameters.get("explain_parameters") or {}
        if not isinstance(params, dict):
            raise BadRequest("parameters.explain_parameters must be a JSON object")
        explanations, rid = await explain(request, _data(payload), params, payload.id)
        texts = [orjson.dumps(e).decode() for e in explanations]
        out = Tensor("explanation", "BYTES", [len(texts), 1], texts, parameters={"content_type": "str"})
        response = Payload(V2, "response", [out], id=payload.id, model_name=name)
        return _json(v2.encode_response(response), request_id=rid)

    @app.post(
        "/explain",
        summary="Explain instances: {explanations}, one per instance",
        openapi_extra=oas.openapi_extra(oas.EXPLAIN_REQUEST, "instances and explain parameters"),
        responses={200: oas.json_response(oas.EXPLANATIONS), **errors},
    )
    async def plain_explain(request: Request) -> Response:
        body, _ = await _body(request, depth)
        if "instances" not in body:
            raise BadRequest("body needs 'instances'")
        explanations, rid = await explain(request, body["instances"], _params(body), ids.from_body(body))
        return _json({"explanations": explanations}, request_id=rid)

    async def live() -> Response:
        if core.probes.live_report()["live"]:
            return _json({"status": "ok"})
        return live_response(core.probes)

    async def ready() -> Response:
        is_ready = bool((await health_report(core.probes))["ready"])
        return _json({"ready": is_ready}, 200 if is_ready else 503)

    for path in ("/health/ping", "/health/live"):
        app.add_api_route(path, live, methods=["GET"], summary="Liveness: 503 once result delivery has died")
    for path in ("/health/status", "/health/ready"):
        app.add_api_route(path, ready, methods=["GET"], summary="Readiness: 503 until the explainer is fitted")
    metadata = partial(_v2_model_metadata, settings, core)
    add_v2_routes(app, settings.model_name, metadata, core.probes, what="the explainer")
    return Guarded(app, HttpGuard(settings.http_limits(), core.metrics.rejected))


def _v2_model_metadata(settings: ExplainerSettings, core: ExplainerCore) -> dict[str, Any]:
    """The V2 model metadata: the explanation output, and the input once the explainer is fitted."""
    n = core.n_features
    return {
        "name": settings.model_name,
        "versions": [],
        "platform": f"alibi-explain:{core.kind_name}",
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, n]}] if n else [],
        "outputs": [{"name": "explanation", "datatype": "BYTES", "shape": [-1, 1]}],
    }


def create_explainer_admin_app(core: ExplainerCore) -> FastAPI:
    """``/metrics``, ``/health/live`` and ``/health/ready`` on ``--metrics-port`` (``core.probes``)."""
    return create_admin_app("inferwatch explainer", core.metrics.registry, core.probes)
