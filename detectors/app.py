"""``create_app(settings, core)``: Seldon graph-component, V2 and CloudEvents endpoints over one core.

Bodies are decoded only by the shared codecs (``inferwatch.protocols``); every tensor of a V2 request
is read (named features), not only the first one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from inferwatch.detectors.core import DetectorCore
from inferwatch.detectors.feedback import (
    FEEDBACK_EVENT_TYPES,
    FEEDBACK_METRICS_EVENT_TYPE,
    FeedbackService,
    open_feedback_store,
)
from inferwatch.detectors.results import DetectorResults, Origin, origin_from_event, origin_from_headers
from inferwatch.detectors.settings import DetectorSettings
from inferwatch.errors import BadRequest, CodecError, InferwatchError, LimitExceeded
from inferwatch.guard import Guarded, HttpGuard
from inferwatch.limits import MAX_JSON_DEPTH
from inferwatch.protocols import SELDON, V2, Decoded, Payload, Tensor, decode_body, get_codec, headers
from inferwatch.protocols import schemas as oas
from inferwatch.protocols.base import REQUEST, RESPONSE
from inferwatch.protocols.cloudevents import EVENT_KINDS, CloudEvent, EventType, parse_http, to_binary_http
from inferwatch.protocols.datatypes import datatype_for
from inferwatch.protocols.seldon import json_message
from inferwatch.protocols.v2 import TensorMetadata, array_tensor
from inferwatch.protocols.v2_binary import HEADER_LENGTH, header_length
from inferwatch.v2_routes import add_v2_routes, served
from inferwatch.web import create_admin_app, health_report, install_error_handler, live_response, off_loop

log = logging.getLogger("inferwatch.detectors.app")
DETECTED_EVENT_TYPES: dict[str, str] = {t: k for t, (k, _) in EVENT_KINDS.items() if k in (REQUEST, RESPONSE)}
"""CloudEvent type -> body kind of the events a detector runs on (Seldon's and KServe's request/response)."""


async def decode(
    request: Request,
    raw: bytes,
    kind: str,
    protocol: str | None,
    path: str,
    max_depth: int = MAX_JSON_DEPTH,
    keep_json: bool = True,
) -> tuple[str, Any, Payload]:
    """The body's protocol, parsed JSON (``None`` unless ``keep_json``) and payload, a large body decoded off the
    event loop; unknown protocol or undecodable body -> 400, JSON nested deeper than ``max_depth`` -> 400 naming
    ``--max-json-depth``."""
    if protocol:
        get_codec(protocol)  # UnknownProtocol (400) names the known ones
    content_type = request.headers.get("content-type")
    hlen = header_length(request.headers.get(HEADER_LENGTH), len(raw))
    args = (raw, kind, protocol, path, content_type, hlen, max_depth, keep_json)
    decoded = await off_loop(len(raw), _decode, *args)
    if decoded.limit is not None:
        raise LimitExceeded(decoded.limit, f"cannot decode the {kind} body: {decoded.error}", status_code=400)
    if decoded.payload is None:
        raise CodecError(
            f"cannot decode the {kind} body: {decoded.error}",
            status_code=decoded.status,
            details={"protocol": decoded.protocol},
        )
    return decoded.protocol, decoded.json, decoded.payload


def _decode(
    raw: bytes,
    kind: str,
    protocol: str | None,
    path: str,
    content_type: str | None,
    hlen: int | None,
    max_depth: int,
    keep_json: bool,
) -> Decoded:
    decoded = decode_body(
        raw,
        kind=kind,
        protocol=protocol,
        path=path,
        content_type=content_type,
        header_length=hlen,
        max_depth=max_depth,
    )
    if not keep_json:
        decoded.json = None  # freed here: a large body's millions of objects would stall the event loop
    return decoded


async def run_detector(
    core: DetectorCore, payload: Payload, results: DetectorResults | None = None, origin: Origin | None = None
) -> dict[str, Any]:
    """Detect on the payload's instances; with ``results``, publish the result for ``origin`` (never raises)."""
    x = await run_in_threadpool(core.payload_features, payload)
    result = await run_in_threadpool(core.detect, x)
    if results is not None and origin is not None:
        results.request(origin, result, int(x.shape[0]))
    return result


def _tags(doc: Any) -> dict[str, Any]:
    """The ``meta.tags`` object of a graph-component body (created when absent); 400 when it is no object."""
    if not isinstance(doc, dict):
        raise BadRequest("a graph-component body must be a JSON object")
    meta = doc.setdefault("meta", {})
    if not isinstance(meta, dict):
        raise BadRequest(f"'meta' must be a JSON object, got {type(meta).__name__}", details={"field": "meta"})
    tags = meta.setdefault("tags", {})
    if not isinstance(tags, dict):
        raise BadRequest(
            f"'meta.tags' must be a JSON object, got {type(tags).__name__}", details={"field": "meta.tags"}
        )
    return tags


def _json(body: Any) -> Response:
    """JSON with orjson (hot path; NaN becomes null)."""
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")


def v2_outputs(result: dict[str, Any]) -> list[Tensor]:
    """One V2 output tensor per key of the result's ``data`` (``None`` values left out), each of the widest
    datatype of its kind (``inferwatch.protocols.v2.array_tensor``)."""
    return [array_tensor(name, value) for name, value in result.get("data", {}).items() if value is not None]


def create_app(settings: DetectorSettings, core: DetectorCore, results: DetectorResults | None = None) -> Guarded:
    """The detector's ASGI app, behind its transport limits (``inferwatch.guard``). Graph-component and V2 routes
    answer synchronously; ``POST /`` is CloudEvents. With ``results`` every result is also published to the
    ``--results-sink`` sinks."""
    feedback = FeedbackService(
        core.feedback, open_feedback_store(settings.feedback_store), settings.results_model or settings.model_name
    )
    app = FastAPI(title="inferwatch detector", lifespan=lambda _: _lifespan(core, feedback))
    install_error_handler(app)
    depth = settings.max_json_depth
    seldon_codec, v2_codec = get_codec(SELDON), get_codec(V2)
    kind_tag = core.detector_type
    event_type = settings.event_type or (
        EventType.SELDON_OUTLIER.value if kind_tag == "outlier" else EventType.SELDON_DRIFT.value
    )

    async def predict(request: Request) -> Response:
        raw = await request.body()
        proto, _, payload = await decode(
            request,
            raw,
            "request",
            request.query_params.get("protocol") or settings.protocol,
            request.url.path,
            depth,
            keep_json=False,
        )
        origin = origin_from_headers(request.headers, payload.id, proto)
        return _json(seldon_codec.encode_response(json_message(await run_detector(core, payload, results, origin))))

    body_doc = "A Seldon message, a V2 inference request or a KServe v1 body (?protocol=, else sniffed)"
    examples = oas.example_bodies([1.0] * len(core.names))
    body = oas.openapi_extra(oas.INFERENCE_BODY, body_doc, parameters=[oas.protocol_parameter()], examples=examples)
    errors = oas.error_responses(*oas.BODY_ERRORS)
    for path in ("/predict", "/api/v1.0/predictions"):
        app.add_api_route(
            path,
            predict,
            methods=["POST"],
            summary="Detector result as a Seldon jsonData message",
            openapi_extra=body,
            responses=errors,
        )

    def transform(kind: str) -> Any:
        async def handler(request: Request) -> Response:
            raw = await request.body()
            proto = request.query_params.get("protocol") or settings.protocol
            proto, doc, payload = await decode(request, raw, kind, proto, request.url.path, depth)
            tags = _tags(doc)  # checked before detecting: a body we cannot answer is not counted
            origin = origin_from_headers(request.headers, payload.id, proto)
            tags[kind_tag] = await run_detector(core, payload, results, origin)
            return _json(doc)

        return handler

    for path, kind in (("/transform-input", "request"), ("/transform-output", "response")):
        app.add_api_route(
            path,
            transform(kind),
            methods=["POST"],
            summary="Pass-through + meta.tags",
            openapi_extra=body,
            responses=errors,
        )

    @app.post(
        "/send-feedback",
        summary="Seldon Feedback (truth + response or request id): TP/FP/TN/FN metrics",
        openapi_extra=oas.openapi_extra(
            oas.SELDON_FEEDBACK,
            "A Seldon Feedback message",
            examples={"truth": {"response": examples["seldon"], "truth": {"data": {"ndarray": [[1]]}}}},
        ),
        responses=errors,
    )
    async def send_feedback(request: Request) -> Response:
        raw, origin = await request.body(), origin_from_headers(request.headers)
        summary = await run_in_threadpool(feedback.handle, raw, origin, request.headers.get("content-type"))
        return _json(seldon_codec.encode_response(json_message(summary)))

    @app.get("/health/ping", summary="Liveness (Seldon): pong, or 503 once a worker the detector needs has died")
    async def ping() -> Response:
        if core.probes.live_report()["live"]:
            return Response("pong", media_type="text/plain")
        return live_response(core.probes)

    @app.get("/health/status", summary="Readiness (Seldon): 503 while the detector cannot do its job")
    async def status() -> JSONResponse:
        h = await health_report(core.probes)
        return JSONResponse({"status": "ok" if h["ready"] else "unavailable", **h}, 200 if h["ready"] else 503)

    datatype = datatype_for(core.loaded.dtype)  # the reference's: FP32, INT64...

    def model_metadata() -> dict[str, Any]:
        return {
            "name": settings.model_name,
            "versions": [str(core.loaded.meta.get("version", ""))],
            "platform": "alibi-detect",
            "inputs": [TensorMetadata(n, datatype, [-1]).to_json() for n in core.names],
            "outputs": [],
        }

    @app.get("/metadata", summary="Seldon metadata: the V2 model metadata plus the detector's")
    async def metadata() -> dict[str, Any]:
        return {**model_metadata(), "detector": core.loaded.meta}

    add_v2_routes(
        app, settings.model_name, model_metadata, core.probes, extensions=["binary_tensor_data"], what="the detector"
    )

    @app.post(
        "/v2/models/{name}/infer",
        summary="Detector result as a V2 inference response (one output per result field)",
        openapi_extra=oas.openapi_extra(
            oas.V2_INFERENCE_REQUEST, "A V2 inference request", examples={"v2": examples["v2"]}
        ),
        responses={
            200: oas.json_response(oas.V2_INFERENCE_RESPONSE),
            **oas.error_responses(*oas.BODY_ERRORS, 404),
        },
    )
    async def v2_infer(name: str, request: Request) -> Response:
        served(name, settings.model_name)
        raw = await request.body()
        _, _, payload = await decode(request, raw, "request", "v2", request.url.path, depth, keep_json=False)
        result = await run_detector(core, payload, results, origin_from_headers(request.headers, payload.id, "v2"))
        meta = {"meta": result.get("meta", {})}
        response = Payload(V2, RESPONSE, v2_outputs(result), parameters=meta, id=payload.id, model_name=name)
        if payload.id is None:
            response.extra["nulls"] = ["id"]  # a request without an id has always been answered "id": null
        return _json(v2_codec.encode_response(response))

    ce_types = [*DETECTED_EVENT_TYPES, *sorted(FEEDBACK_EVENT_TYPES)]

    @app.post(
        "/",
        summary="CloudEvents (binary or structured mode): detect on a request/response event, count a feedback event",
        openapi_extra=oas.openapi_extra(
            {"anyOf": [*oas.INFERENCE_BODY["anyOf"], oas.SELDON_FEEDBACK]},
            "Binary mode: the event's data (ce-* headers); structured mode: the whole event",
            cloudevents=True,
            parameters=oas.cloudevent_headers(ce_types),
            examples=examples,
        ),
        responses=errors,
    )
    async def cloudevent(request: Request) -> Response:
        raw = await request.body()
        event = await off_loop(len(raw), parse_http, dict(request.headers), raw, depth)
        if event.type in FEEDBACK_EVENT_TYPES:
            summary = await run_in_threadpool(feedback.handle, event.data, origin_from_event(event), None)
            return await _answer(settings, event, FEEDBACK_METRICS_EVENT_TYPE, summary)
        kind = DETECTED_EVENT_TYPES.get(event.type)
        if kind is None:
            raise BadRequest(
                f"CloudEvent type {event.type!r} is not one a detector answers; accepted: {', '.join(ce_types)}",
                details={"ce_type": event.type, "accepted": ce_types},
            )
        proto = event.extensions.get(headers.EXT_PROTOCOL) or settings.protocol
        _, _, payload = await decode(request, event.data, kind, proto, "/", depth, keep_json=False)
        result = await run_detector(core, payload, results, origin_from_event(event, proto))
        return await _answer(settings, event, event_type, result)

    return Guarded(app, HttpGuard(settings.http_limits(), core.metrics.rejected))


async def _answer(settings: DetectorSettings, event: CloudEvent, event_type: str, result: Any) -> Response:
    """The answer event: the incoming id and ``Ce-*`` extensions, our type and source; also sent to ``reply_url``."""
    answer = CloudEvent(
        id=event.id,
        source=settings.event_source,
        type=event_type,
        extensions=dict(event.extensions),
        datacontenttype="application/json",
        data=orjson.dumps(result),
    )
    out_headers, body = to_binary_http(answer)
    if settings.reply_url:
        await _reply(settings.reply_url, settings.reply_timeout, out_headers, body)
    return Response(body, headers=out_headers, media_type="application/json")


async def _reply(url: str, timeout: float, out_headers: dict[str, str], body: bytes) -> None:
    """Forward the answer event; a failed forward is logged, the caller still gets the result."""
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            resp = await client.post(url, content=body, headers=out_headers)
        if resp.status_code >= 400:
            log.warning("reply url %s answered %d", url, resp.status_code)
    except httpx.HTTPError as e:
        log.warning("reply url %s failed: %r", url, e)


@contextlib.asynccontextmanager
async def _lifespan(core: DetectorCore, feedback: FeedbackService) -> AsyncIterator[None]:
    """With a time window, close expired windows even when no request arrives (checked every second). On exit,
    close the feedback store and save an online detector's state."""
    seconds = core.settings.window_seconds

    async def ticker(seconds: float) -> None:
        while True:
            await asyncio.sleep(min(1.0, seconds / 4))
            try:
                await run_in_threadpool(core.tick)
            except InferwatchError as e:
                log.error("closing a time window failed: %s", e.message)

    task = asyncio.create_task(ticker(seconds), name="window-ticker") if seconds is not None else None
    if task is not None:
        core.probes.watch_task("window-ticker", task)  # without it, time windows never close
    try:
        yield
    finally:
        if task is not None:
            core.probes.forget("window-ticker")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        feedback.close()
        await run_in_threadpool(core.close)


def create_detector_admin_app(core: DetectorCore) -> FastAPI:
    """``/metrics``, ``/health/live`` and ``/health/ready`` on ``--metrics-port`` (``core.probes``)."""
    return create_admin_app("inferwatch detector", core.registry, core.probes)
