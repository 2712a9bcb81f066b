"""The ``InferenceRecord``: one prediction, request and response paired, as every sink stores it.

The schema is declared once here. ``to_dict``/``from_dict`` give the JSON-able form that the embedded
store, Kafka and the search engines all carry, so a record read back from any of them is the same record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

from inferwatch import jsonenc, timestamps


class Flag(StrEnum):
    """Why a record is not a plain, complete, decoded exchange."""

    TRUNCATED = "truncated"  # a body was over the size limit; the first bytes are kept (not when redacting)
    PARSE_ERROR = "parse_error"  # a body could not be decoded; it is kept raw (not when redacting)
    PARTIAL = "partial"  # only one half (request or response) ever arrived
    UPSTREAM_ERROR = "upstream_error"  # the model server could not be reached or timed out
    REDACTED = "redacted"  # configured paths/fields were masked, or a body withheld, before any sink
    UNREDACTED = "unredacted"  # redaction is on, but a body it could not handle was kept as captured (opt-in)
    REDUCED = "reduced"  # a sink could not take it whole: decoded payloads and instances left out (``reduction``)
    SHED = "shed"  # raw bodies left out too, only their size and sha256 kept (``reduction``)
    COLLISION = "collision"  # its request id was already taken: stored as <id>~<suffix>, tags.request_id = <id>
    LIMIT_EXCEEDED = "limit_exceeded"  # a body crossed a limit (decompressed size/ratio, JSON depth): not decoded


class Redaction(StrEnum):
    """What redaction did to one body (``PayloadRecord.redaction``; ``None``: nothing, or redaction is off)."""

    MASKED = "masked"
    """Configured paths/fields were masked: ``raw`` is the masked JSON, ``decoded`` its decoded form."""
    WITHHELD = "withheld"
    """The body could not be redacted (truncated, or not parsable as its protocol): no ``raw``, no ``decoded``;
    ``size``, ``content_type``, ``sha256`` and ``parse_error`` describe it."""
    KEPT = "kept"
    """The body could not be redacted and is stored as captured, because the user opted in
    (``--redact-unparsed keep``)."""


NODE_MARK = "@"
"""``<request id>@<node>``: the record of another inference-graph node's exchange of that request."""
COLLISION_MARK = "~"
"""``<request id>~<suffix>``: an exchange whose request id was already taken by a recent one."""
EVENT_MARK = "-"
"""``<request id>-<kind>``: a feedback/outlier/drift event about that request, kept as a record of its own."""
REQUEST_ID_TAG = "request_id"
"""Tag holding the request id an exchange came with, when its record id is not that id."""
RELATED_ID_MARKS = (NODE_MARK, COLLISION_MARK, EVENT_MARK)
"""What may follow a request id in the id of a record that belongs to that request."""


@dataclass(slots=True)
class PayloadRecord:
    """One side of the exchange: the raw body as it crossed the wire plus its decoded form."""

    content_type: str | None = None
    size: int = 0
    """Full size on the wire in bytes, also when ``raw`` was truncated."""
    raw: str = ""
    """The body as text (``raw_encoding='utf-8'``) or base64 (``'base64'``) when it is not UTF-8."""
    raw_encoding: str = "utf-8"
    truncated: bool = False
    protocol: str | None = None
    decoded: dict[str, Any] | None = None
    """``Payload.to_json()`` of the codec that understood the body, or ``None``."""
    parse_error: str | None = None
    redaction: str | None = None
    """A ``Redaction`` value when redaction changed or judged this body."""
    sha256: str | None = None
    """Hex SHA-256 of the body, kept where its bytes are not: for a body withheld by redaction, of the bytes captured
    (before decompression; the first ``--max-payload-bytes`` of a truncated body); for a record a sink could only
    take reduced or shed (``inferwatch.reduction``), of the body ``raw`` held."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PayloadRecord:
        return cls(**{k: v for k, v in d.items() if k in _PAYLOAD_FIELDS})


@dataclass(slots=True)
class InferenceRecord:
    """A logged prediction. ``id`` is the request id that pairs request and response everywhere."""

    id: str
    received_at: datetime
    responded_at: datetime | None = None
    latency_ms: float | None = None
    model_name: str | None = None
    model_version: str | None = None
    deployment: str | None = None
    namespace: str | None = None
    endpoint: str | None = None
    protocol: str | None = None
    source: str = "proxy"
    """How the record reached us: ``proxy``, ``cloudevents``, ``kafka``..."""
    method: str | None = None
    path: str | None = None
    status_code: int | None = None
    request: PayloadRecord | None = None
    response: PayloadRecord | None = None
    feature_names: list[str] | None = None
    instances: list[dict[str, Any]] = field(default_factory=list)
    """Per-instance rows: ``{"request": {feature: value}, "response": {output: value}}``."""
    tags: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    error: str | None = None

    def has(self, flag: Flag) -> bool:
        return flag.value in self.flags

    def flag(self, flag: Flag) -> None:
        if flag.value not in self.flags:
            self.flags.append(flag.value)

    def to_json(self) -> bytes:
        """The JSON every sink stores (timestamps as ISO-8601 UTC ``...ssssssZ`` strings).

        orjson serialises the dataclasses directly: ~15 µs for a small record, where a deep copy through
        ``dataclasses.asdict`` took ~10x longer."""
        return jsonenc.dumps(self)

    def to_dict(self) -> dict[str, Any]:
        """A fresh JSON-able dict of the record (the parsed ``to_json``)."""
        out: dict[str, Any] = orjson.loads(self.to_json())
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InferenceRecord:
        data = {k: v for k, v in d.items() if k in _RECORD_FIELDS}
        data["received_at"] = timestamps.parse(d["received_at"])
        data["responded_at"] = timestamps.parse(d["responded_at"]) if d.get("responded_at") else None
        for side in ("request", "response"):
            if isinstance(d.get(side), dict):
                data[side] = PayloadRecord.from_dict(d[side])
        return cls(**data)


_PAYLOAD_FIELDS = set(PayloadRecord.__dataclass_fields__)
_RECORD_FIELDS = set(InferenceRecord.__dataclass_fields__)
