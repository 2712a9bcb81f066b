"""The ``ResultRecord``: a detector or explainer result, delivered through the same sinks as the logger's records.

An outlier/adversarial result or an explanation belongs to one logged request (``request_id``) and, for a
batch, to one of its instances (``item`` of ``items``): the search sink merges it into that request's document
(``<request_id>`` or ``<request_id>-item-<item>``) as the field named by ``kind``. A drift result belongs to a
closed window, not to a request (``request_id=None``) and goes to a drift index / topic of its own.

``id`` is deterministic (``<request_id>/<kind>[/<item>]``, drift: ``drift/<model>/<window end>``), so a
retried or replayed write replaces the result instead of duplicating it. ``to_json`` carries a
``"record_type": "result"`` discriminator; ``decode_record`` turns any stored/spooled dict back into the right
record type (dicts without the key are ``InferenceRecord``s, as every record spooled before results existed).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import orjson

from inferwatch import ids, jsonenc, timestamps
from inferwatch.errors import CodecError
from inferwatch.protocols import headers as h
from inferwatch.protocols.cloudevents import CloudEvent, inference_info
from inferwatch.records import InferenceRecord

if TYPE_CHECKING:
    from inferwatch.capture import Exchange

RECORD_TYPE = "record_type"
RESULT = "result"


class ResultKind(StrEnum):
    """What produced a result; also the name of the field it is merged into."""

    OUTLIER = "outlier"
    DRIFT = "drift"
    ADVERSARIAL = "adversarial"
    EXPLANATION = "explanation"


EVENT_TYPES: dict[str, str] = {
    ResultKind.OUTLIER: "io.seldon.serving.inference.outlier",
    ResultKind.DRIFT: "io.seldon.serving.inference.drift",
    ResultKind.ADVERSARIAL: "io.inferwatch.adversarial",
    ResultKind.EXPLANATION: "io.inferwatch.explanation",
}
"""CloudEvents ``type`` of each kind (Seldon's names where Seldon has one)."""

KAFKA_RESULT_TYPE = "io.inferwatch.result"
"""Kafka ``type`` header of a result message (the value is the ``ResultRecord`` JSON, not a raw body)."""
KAFKA_KIND = "kind"
"""Kafka header naming a result's kind."""


@dataclass(slots=True)
class ResultRecord:
    """One detector/explainer result (see module doc). ``body`` is alibi's JSON dict (``{data, meta}``)."""

    id: str
    kind: str
    body: dict[str, Any]
    request_id: str | None = None
    item: int | None = None
    """Instance of the logged batch this result is about; ``None`` for a single-instance request."""
    items: int | None = None
    """Instances in the logged request: with more than one, documents are ``<id>-item-<n>``."""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    model_name: str | None = None
    deployment: str | None = None
    namespace: str | None = None
    endpoint: str | None = None
    protocol: str | None = None
    source: str | None = None
    """The detector or explainer that produced it."""
    tags: dict[str, Any] = field(default_factory=dict)
    """As ``InferenceRecord.tags``: ``event_format``/``ce_type`` make a KServe event name KServe indices."""
    record_type: str = RESULT
    """The discriminator every stored form carries (``decode_record``)."""

    @property
    def received_at(self) -> datetime:
        """``created_at`` under the name index/topic naming reads (``{date}``)."""
        return self.created_at

    @property
    def document_id(self) -> str | None:
        """The logged request's document this result merges into (``None``: not attached to a request)."""
        if self.request_id is None:
            return None
        if self.item is None or (self.items is not None and self.items <= 1):
            return self.request_id
        return f"{self.request_id}-item-{self.item}"

    @property
    def key(self) -> str:
        """Kafka message key: the request id, so a request's record and results share a partition."""
        return self.request_id or self.id

    def to_json(self) -> bytes:
        return jsonenc.dumps(self)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = orjson.loads(self.to_json())
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResultRecord:
        data = {k: v for k, v in d.items() if k in _FIELDS}
        data["created_at"] = timestamps.parse(d["created_at"]) if d.get("created_at") else datetime.now(UTC)
        data["record_type"] = RESULT
        return cls(**data)

    def stamped_body(self) -> dict[str, Any]:
        """``body`` plus ``created_at`` and ``source``: what is merged into a document or stored as a row."""
        out = dict(self.body)
        out["created_at"] = timestamps.iso(self.created_at)
        if self.source:
            out["source"] = self.source
        return out


Record = InferenceRecord | ResultRecord
"""What flows through the delivery pipeline and into sinks."""


def result_id(kind: str, request_id: str, item: int | None = None) -> str:
    """``<request_id>/<kind>[/<item>]``: the same result always gets the same id."""
    return f"{request_id}/{kind}" if item is None else f"{request_id}/{kind}/{item}"


def drift_id(model: str | None, window_end: datetime) -> str:
    """``drift/<model>/<window end>``: one result per closed window of one detector."""
    return f"drift/{model or 'default'}/{timestamps.compact(window_end)}"


def decode_record(d: dict[str, Any]) -> Record:
    """The record a stored dict stands for, dispatching on ``record_type`` (absent: ``InferenceRecord``)."""
    if d.get(RECORD_TYPE) == RESULT:
        return ResultRecord.from_dict(d)
    return InferenceRecord.from_dict(d)


def split_items(body: dict[str, Any], n: int) -> Iterator[dict[str, Any]]:
    """Per-instance bodies of a batch result: every list of length ``n`` under ``data`` is indexed by instance
    (alibi-detect's ``is_outlier``, ``instance_score``, ``feature_score``...), everything else is copied."""
    data = body.get("data")
    for i in range(n):
        if not isinstance(data, dict):
            yield dict(body)
            continue
        item = {k: (v[i] if isinstance(v, list) and len(v) == n else v) for k, v in data.items()}
        yield {**body, "data": item}


def per_request(
    kind: str,
    body: dict[str, Any],
    request_id: str,
    items: int,
    **envelope: Any,
) -> list[ResultRecord]:
    """The result records of one request's detector result: one record for a single instance, else one per
    instance (``split_items``) so each lands on its own ``<id>-item-<n>`` document."""
    if items <= 1:
        return [ResultRecord(result_id(kind, request_id), kind, body, request_id, None, items, **envelope)]
    return [
        ResultRecord(result_id(kind, request_id, i), kind, part, request_id, i, items, **envelope)
        for i, part in enumerate(split_items(body, items))
    ]


@dataclass
class Origin:
    """Where a result comes from: the logged request it belongs to, and the names its record is indexed under."""

    request_id: str | None
    model_name: str | None = None
    deployment: str | None = None
    namespace: str | None = None
    endpoint: str | None = None
    protocol: str | None = None
    tags: dict[str, Any] = field(default_factory=dict)


def origin_from_headers(headers: Mapping[str, str], body_id: str | None = None, protocol: str | None = None) -> Origin:
    """From HTTP headers (lower-case keys): the first request-id header, else the body's id (V2)."""
    rid = ids.from_headers(headers) or body_id
    ce = {k: headers.get(h.CE_PREFIX + k) for k in (h.EXT_MODEL_ID, h.EXT_INFERENCE_SERVICE_NAME, h.EXT_NAMESPACE)}
    return Origin(
        rid or headers.get(h.CE_ID),
        ce[h.EXT_MODEL_ID],
        ce[h.EXT_INFERENCE_SERVICE_NAME],
        ce[h.EXT_NAMESPACE],
        headers.get(h.CE_ENDPOINT),
        protocol,
    )


def origin_from_event(event: CloudEvent, protocol: str | None = None) -> Origin:
    """From a CloudEvent: Seldon's ``requestid`` (else ``id``) and its naming attributes."""
    try:
        info = inference_info(event)
    except CodecError:  # not an inference event type: read the attributes as they are
        ext = event.extensions
        return Origin(
            ext.get(h.EXT_REQUEST_ID) or event.id,
            ext.get(h.EXT_MODEL_ID),
            ext.get(h.EXT_INFERENCE_SERVICE_NAME),
            ext.get(h.EXT_NAMESPACE),
            ext.get(h.EXT_ENDPOINT),
            protocol,
            {"ce_type": event.type},
        )
    tags = {"ce_type": event.type, "event_format": info.source_format}
    return Origin(
        info.request_id, info.model_id, info.deployment, info.namespace, info.endpoint, info.protocol or protocol, tags
    )


_FIELDS = set(ResultRecord.__dataclass_fields__)


EVENT_RESULT_KINDS = frozenset({ResultKind.OUTLIER.value, ResultKind.DRIFT.value})
"""Kinds of detector answers that reach the logger's CloudEvents receiver (Seldon's alibi-detect server
replying with ``Ce-Type io.seldon.serving.inference.outlier|drift``)."""
FOR_REQUEST_TAG = "request_id"
"""Tag the receiver puts on an event that is not a request/response half: the request it is about."""


def results_from_event(ex: Exchange) -> list[ResultRecord] | None:
    """A detector's answer received as a CloudEvent (the exchange's ``tags`` carry its ``kind`` and the request
    id) as result records that merge into the logged request, one per instance for a batch of outliers.

    ``None`` when it is no such answer or its body is not an alibi-detect result (truncated, not JSON, no
    ``data``): the caller then stores it as a record of its own, so nothing is lost."""
    kind, request_id = ex.tags.get("kind"), ex.tags.get(FOR_REQUEST_TAG)
    if kind not in EVENT_RESULT_KINDS or not request_id or ex.request is None or ex.request.truncated:
        return None
    try:
        body = orjson.loads(ex.request.raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return None
    envelope: dict[str, Any] = {
        "created_at": timestamps.from_epoch(ex.received_at),
        "model_name": ex.model_name,
        "deployment": ex.deployment,
        "namespace": ex.namespace,
        "endpoint": ex.endpoint,
        "protocol": ex.protocol,
        "source": ex.source,
        "tags": dict(ex.tags),
    }
    flags = body["data"].get("is_outlier")
    if kind == ResultKind.OUTLIER and isinstance(flags, list):
        return per_request(kind, body, str(request_id), len(flags), **envelope)
    return [ResultRecord(result_id(kind, str(request_id)), kind, body, str(request_id), **envelope)]
