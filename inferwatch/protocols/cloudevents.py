"""CloudEvents 1.0 over HTTP (binary and structured mode) and the inference events of Seldon and KServe.

Binary mode: attributes in ``ce-*`` headers (percent-decoded, per the HTTP binding), the body is the data
and ``Content-Type`` its ``datacontenttype``. Structured mode: ``Content-Type:
application/cloudevents+json`` and one JSON object with ``data`` or ``data_base64``. Seldon's executor
sends binary mode with ``ce-requestid`` as the pairing key; KServe's logger uses the same ``ce-id`` on
both halves and a JSON ``metadata`` extension.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote, unquote

import orjson

from inferwatch import limits
from inferwatch.errors import CodecError
from inferwatch.protocols import headers as h
from inferwatch.protocols.aliases import normalize_protocol

SPEC_VERSIONS = ("1.0", "0.3")
_REQUIRED = ("id", "source", "type", "specversion")
_CORE = frozenset({"id", "source", "type", "specversion", "datacontenttype", "subject", "time"})
# printable ASCII except space, '"' and '%' stays as-is in binary-mode header values
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')


class EventType(StrEnum):
    """CloudEvent ``type`` values of the inference ecosystem."""

    SELDON_REQUEST = "io.seldon.serving.inference.request"
    SELDON_RESPONSE = "io.seldon.serving.inference.response"
    SELDON_FEEDBACK = "io.seldon.serving.feedback"  # what the v1 executor sends for /feedback
    SELDON_INFERENCE_FEEDBACK = "io.seldon.serving.inference.feedback"
    SELDON_OUTLIER = "io.seldon.serving.inference.outlier"
    SELDON_DRIFT = "io.seldon.serving.inference.drift"
    KSERVE_REQUEST = "org.kubeflow.serving.inference.request"
    KSERVE_RESPONSE = "org.kubeflow.serving.inference.response"
    KSERVE_OUTLIER = "org.kubeflow.serving.inference.outlier"
    KSERVE_DRIFT = "org.kubeflow.serving.inference.drift"


SELDON, KSERVE = "seldon", "kserve"
#: event type -> (kind, source format)
EVENT_KINDS: dict[str, tuple[str, str]] = {
    EventType.SELDON_REQUEST: ("request", SELDON),
    EventType.SELDON_RESPONSE: ("response", SELDON),
    EventType.SELDON_FEEDBACK: ("feedback", SELDON),
    EventType.SELDON_INFERENCE_FEEDBACK: ("feedback", SELDON),
    EventType.SELDON_OUTLIER: ("outlier", SELDON),
    EventType.SELDON_DRIFT: ("drift", SELDON),
    EventType.KSERVE_REQUEST: ("request", KSERVE),
    EventType.KSERVE_RESPONSE: ("response", KSERVE),
    EventType.KSERVE_OUTLIER: ("outlier", KSERVE),
    EventType.KSERVE_DRIFT: ("drift", KSERVE),
}


@dataclass
class CloudEvent:
    """One event. ``extensions`` are keyed by lower-case name without the ``ce-`` prefix."""

    id: str
    source: str
    type: str
    specversion: str = "1.0"
    datacontenttype: str | None = None
    subject: str | None = None
    time: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)
    data: bytes = b""


def parse_http(headers: Mapping[str, str], body: bytes, max_depth: int = limits.MAX_JSON_DEPTH) -> CloudEvent:
    """An HTTP request as a CloudEvent (binary or structured mode); ``CodecError`` says why not, ``LimitExceeded``
    (400) when a structured event's data or an attribute nests deeper than ``max_depth``."""
    hdrs = {k.lower(): v for k, v in headers.items()}
    media = (hdrs.get(h.CONTENT_TYPE) or "").split(";")[0].strip().lower()
    if media == h.CLOUDEVENTS_JSON:
        return _parse_structured(body, max_depth)
    if media == h.CLOUDEVENTS_BATCH_JSON:
        raise CodecError("batched CloudEvents (application/cloudevents-batch+json) are not supported")
    if not any(k.startswith(h.CE_PREFIX) for k in hdrs):
        raise CodecError(f"not a CloudEvent: no ce-* headers and content-type is {media or 'absent'!r}")
    return _parse_binary(hdrs, body)


def _parse_binary(hdrs: dict[str, str], body: bytes) -> CloudEvent:
    attrs = {k[len(h.CE_PREFIX) :]: _unquote(v) for k, v in hdrs.items() if k.startswith(h.CE_PREFIX)}
    missing = [f"ce-{a}" for a in _REQUIRED if not attrs.get(a)]
    if missing:
        raise CodecError(f"binary-mode CloudEvent lacks {', '.join(missing)}")
    _check_version(attrs["specversion"])
    return CloudEvent(
        id=attrs["id"],
        source=attrs["source"],
        type=attrs["type"],
        specversion=attrs["specversion"],
        datacontenttype=hdrs.get(h.CONTENT_TYPE),
        subject=attrs.get("subject"),
        time=attrs.get("time"),
        extensions={k: v for k, v in attrs.items() if k not in _CORE},
        data=bytes(body),
    )


def _parse_structured(body: bytes, max_depth: int) -> CloudEvent:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise CodecError(f"structured CloudEvent is not valid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise CodecError("structured CloudEvent must be a JSON object")
    for value in doc.values():  # its data and attributes are written out again as JSON
        limits.check_depth(value, max_depth, "structured CloudEvent data or attribute")
    missing = [a for a in _REQUIRED if not isinstance(doc.get(a), str) or not doc[a]]
    if missing:
        raise CodecError(f"structured CloudEvent lacks {', '.join(missing)}")
    _check_version(doc["specversion"])
    ctype = doc.get("datacontenttype")
    if "data_base64" in doc:
        try:
            data = base64.b64decode(doc["data_base64"], validate=True)
        except (binascii.Error, ValueError, TypeError) as e:
            raise CodecError("structured CloudEvent data_base64 is not valid base64") from e
    elif "data" in doc:
        value = doc["data"]
        data = value.encode() if isinstance(value, str) and not _is_json(ctype) else orjson.dumps(value)
    else:
        data = b""
    skip = _CORE | {"data", "data_base64"}
    return CloudEvent(
        id=doc["id"],
        source=doc["source"],
        type=doc["type"],
        specversion=doc["specversion"],
        datacontenttype=ctype,
        subject=doc.get("subject"),
        time=doc.get("time"),
        extensions={k.lower(): _ext_text(v) for k, v in doc.items() if k not in skip},
        data=data,
    )


def to_binary_http(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    """Headers and body of the event in binary mode (header values percent-encoded as the binding says)."""
    out = {
        h.CE_SPECVERSION: event.specversion,
        h.CE_ID: event.id,
        h.CE_SOURCE: event.source,
        h.CE_TYPE: event.type,
    }
    if event.subject is not None:
        out[h.CE_SUBJECT] = event.subject
    if event.time is not None:
        out[h.CE_TIME] = event.time
    for name, value in event.extensions.items():
        out[h.CE_PREFIX + name.lower()] = value
    out = {k: quote(v, safe=_SAFE) for k, v in out.items()}
    if event.datacontenttype is not None:
        out[h.CONTENT_TYPE] = event.datacontenttype
    return out, event.data


def to_structured_http(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    """Headers and body of the event in structured mode (JSON data embedded, other data as base64)."""
    doc: dict[str, Any] = {
        "specversion": event.specversion,
        "id": event.id,
        "source": event.source,
        "type": event.type,
    }
    for key in ("datacontenttype", "subject", "time"):
        value = getattr(event, key)
        if value is not None:
            doc[key] = value
    doc.update(event.extensions)
    if event.data:
        embedded = _json_data(event)
        if embedded is not None:
            doc["data"] = embedded[0]
        else:
            doc["data_base64"] = base64.b64encode(event.data).decode("ascii")
    return {h.CONTENT_TYPE: h.CLOUDEVENTS_JSON + "; charset=utf-8"}, orjson.dumps(doc)


def _json_data(event: CloudEvent) -> tuple[Any] | None:
    if not _is_json(event.datacontenttype):
        return None
    try:
        value = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        return None
    return (value,) if orjson.dumps(value) == event.data else None


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return True
    media = content_type.split(";")[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


def _check_version(version: str) -> None:
    if version not in SPEC_VERSIONS:
        raise CodecError(f"CloudEvents specversion {version!r} is not supported ({', '.join(SPEC_VERSIONS)})")


def _unquote(value: str) -> str:
    return unquote(value) if "%" in value else value


def _ext_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else orjson.dumps(value).decode()


@dataclass
class InferenceEventInfo:
    """What an inference CloudEvent says about the exchange it belongs to."""

    kind: str
    request_id: str
    model_id: str | None
    deployment: str | None
    namespace: str | None
    endpoint: str | None
    component: str | None
    protocol: str | None
    metadata: dict[str, Any]
    source_format: str


_CONSUMED = frozenset(
    {
        h.EXT_REQUEST_ID,
        h.EXT_MODEL_ID,
        h.EXT_INFERENCE_SERVICE_NAME,
        h.EXT_NAMESPACE,
        h.EXT_ENDPOINT,
        h.EXT_COMPONENT,
        h.EXT_PROTOCOL,
        h.EXT_METADATA,
        h.EXT_ANNOTATIONS,
    }
)


def inference_info(event: CloudEvent, max_depth: int = limits.MAX_JSON_DEPTH) -> InferenceEventInfo:
    """Kind, pairing id and origin of a Seldon or KServe inference event; ``CodecError`` for other types.
    A ``metadata``/``annotations`` extension nested deeper than ``max_depth`` is kept as its text."""
    entry = EVENT_KINDS.get(event.type)
    if entry is None:
        raise CodecError(f"unknown CloudEvent type {event.type!r}; known: {', '.join(EVENT_KINDS)}")
    kind, source_format = entry
    ext = event.extensions
    # Seldon pairs on ce-requestid (falling back to ce-id); KServe uses the same ce-id on both halves
    request_id = (ext.get(h.EXT_REQUEST_ID) if source_format == SELDON else None) or event.id
    metadata: dict[str, Any] = {}
    if ext.get(h.EXT_METADATA):
        metadata.update(_json_object(ext[h.EXT_METADATA], h.EXT_METADATA, max_depth))
    if ext.get(h.EXT_ANNOTATIONS):
        metadata[h.EXT_ANNOTATIONS] = _json_object(ext[h.EXT_ANNOTATIONS], h.EXT_ANNOTATIONS, max_depth)
    others = {k: v for k, v in ext.items() if k not in _CONSUMED}
    if others:
        metadata["extensions"] = others
    raw_protocol = ext.get(h.EXT_PROTOCOL) or None
    return InferenceEventInfo(
        kind=kind,
        request_id=request_id,
        model_id=ext.get(h.EXT_MODEL_ID) or None,
        deployment=ext.get(h.EXT_INFERENCE_SERVICE_NAME) or None,
        namespace=ext.get(h.EXT_NAMESPACE) or None,
        endpoint=ext.get(h.EXT_ENDPOINT) or None,
        component=ext.get(h.EXT_COMPONENT) or None,
        protocol=(normalize_protocol(raw_protocol) or raw_protocol.lower()) if raw_protocol else None,
        metadata=metadata,
        source_format=source_format,
    )


def _json_object(text: str, name: str, max_depth: int) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {name: text}
    if limits.json_depth(value, max_depth) > max_depth:
        return {name: text}
    if value is None:  # KServe marshals an empty header map as ``null``
        return {}
    return value if isinstance(value, dict) else {name: value}
