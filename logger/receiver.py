"""CloudEvents mode: receives the Seldon executor's and KServe's logger events on ``POST /``.

Each event is one half of an exchange (request or response); ``Pairer`` joins them by request id.
Malformed events are answered ``400`` with the reason; accepted events are answered ``200`` at once —
decoding and storage happen in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from inferwatch import ids
from inferwatch.capture import Body, Exchange
from inferwatch.errors import BadRequest, LimitExceeded
from inferwatch.logger.service import LoggerService
from inferwatch.pairing import Half, Pairer
from inferwatch.protocols import schemas as oas
from inferwatch.protocols.cloudevents import CloudEvent, InferenceEventInfo, inference_info, parse_http
from inferwatch.protocols.headers import CONTENT_TYPE, SKIP_LOGGING
from inferwatch.records import EVENT_MARK
from inferwatch.results import FOR_REQUEST_TAG
from inferwatch.web import install_error_handler, live_response, off_loop, ready_response

PAIRED_KINDS = frozenset({"request", "response"})
ACCEPTED: oas.Schema = {
    "type": "object",
    "required": ["status", "id", "kind"],
    "properties": {"status": {"const": "accepted"}, "id": {"type": "string"}, "kind": {"type": "string"}},
}


def create_receiver_app(service: LoggerService) -> FastAPI:
    """The FastAPI app of CloudEvents mode (OpenAPI docs at ``/docs``)."""
    settings = service.settings
    pairer = Pairer(
        settings.pairing_ttl, service.record, service.metrics.pairing, settings.id_window, settings.pairing_bytes
    )
    tick = min(1.0, service.settings.pairing_ttl / 4)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def expire_loop() -> None:
            while True:
                await asyncio.sleep(tick)
                pairer.expire()

        task = asyncio.create_task(expire_loop(), name="pairing-expiry")
        service.probes.watch_task("pairing-expiry", task)  # halves would never expire without it
        try:
            yield
        finally:
            service.probes.forget("pairing-expiry")
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            pairer.flush()

    app = FastAPI(
        title="inferwatch logger (CloudEvents receiver)",
        description="Receives inference request/response CloudEvents from Seldon Core's executor and "
        "KServe's logger, pairs them by request id and records them.",
        lifespan=lifespan,
    )
    install_error_handler(app)
    app.state.pairer = pairer

    @app.post(
        "/",
        summary="Receive one inference CloudEvent (binary or structured mode)",
        openapi_extra=oas.openapi_extra(
            oas.ANY_JSON,
            "Binary mode: the event's data, any payload (ce-* headers); structured mode: the whole event",
            cloudevents=True,
            parameters=oas.cloudevent_headers(oas.EVENT_TYPES),
        ),
        responses={200: oas.json_response(ACCEPTED), **oas.error_responses(*oas.BODY_ERRORS)},
    )
    async def receive(request: Request) -> dict[str, str]:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        depth = service.limits.json_depth
        try:
            event = await off_loop(len(body), parse_http, headers, body, depth)
            info = inference_info(event, depth)
        except LimitExceeded as e:
            service.metrics.events.labels("unknown", "rejected").inc()
            # the logger never drops what it was sent: what could not be read as an event is recorded as it came
            await service.record_acked(_refused(body, headers, e, service.settings.max_payload_bytes))
            raise
        except BadRequest:
            service.metrics.events.labels("unknown", "rejected").inc()
            raise
        service.metrics.events.labels(info.kind, "accepted").inc()
        skip = headers.get(SKIP_LOGGING, "").lower() == "true"
        if skip:
            service.metrics.skipped.labels("skip_header").inc()
        ex = _template(event, info)
        cap = Body.capture(event.data, event.datacontenttype, service.settings.max_payload_bytes)
        if info.kind in PAIRED_KINDS:
            ignored = skip or not service.sampled(info.request_id)
            pairer.add(Half(info.kind, cap, time.time(), ex, skip=ignored))
        elif not skip:
            # feedback/outlier/drift events are not halves: outlier/drift results merge into the request's
            # record in the sinks that can (LoggerService.build), anything else is a record of its own
            ex.request_id = f"{info.request_id}{EVENT_MARK}{info.kind}"
            ex.tags[FOR_REQUEST_TAG] = info.request_id
            ex.request = cap
            await service.record_acked(ex)
        return {"status": "accepted", "id": info.request_id, "kind": info.kind}

    @app.get("/health/live", summary="Liveness: 503 once a delivery thread or the pairing task has died")
    async def live() -> JSONResponse:
        return live_response(service.probes)

    @app.get("/health/ready", summary="Readiness: events can be accepted and spooled; sinks as detail")
    async def ready() -> JSONResponse:
        return await ready_response(service.probes)

    return app


def _refused(body: bytes, headers: dict[str, str], e: LimitExceeded, max_payload: int) -> Exchange:
    """The record of an event that could not be read as one (nested too deep): its bytes as captured, flagged
    partial, under a new id (its own could not be read), ``tags.refused`` naming the limit."""
    ex = Exchange(
        request_id=ids.new_request_id(),
        received_at=time.time(),
        source="cloudevents",
        partial=True,
        error=f"CloudEvent refused: {e.message}",
        tags={"refused": e.limit},
    )
    ex.request = Body.capture(body, headers.get(CONTENT_TYPE), max_payload)
    ex.request.limit = ex.request.refused_for = e.limit
    ex.request.parse_error = e.message
    return ex


def _template(event: CloudEvent, info: InferenceEventInfo) -> Exchange:
    tags: dict[str, object] = {
        "ce_type": event.type,
        "ce_source": event.source,
        "event_format": info.source_format,
    }
    if info.component:
        tags["component"] = info.component
    if info.metadata:
        tags["metadata"] = info.metadata
    if info.kind not in PAIRED_KINDS:
        tags["kind"] = info.kind
    return Exchange(
        request_id=info.request_id,
        received_at=time.time(),
        source="cloudevents",
        protocol=info.protocol,
        model_name=info.model_id,
        deployment=info.deployment,
        namespace=info.namespace,
        endpoint=info.endpoint,
        tags=tags,
    )
