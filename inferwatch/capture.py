"""What the prediction path captures, and how it becomes an ``InferenceRecord`` in the background.

The hot path only fills an ``Exchange`` (raw bytes, a few headers, timestamps) and hands it to the
delivery pipeline. ``RecordBuilder.build`` runs on the pipeline's thread: it decompresses, decodes with the
protocol codecs, flattens instances, redacts and flags — none of that costs the caller any latency.
"""

from __future__ import annotations

import base64
import gzip
import zlib
from dataclasses import dataclass, field
from typing import Any

from inferwatch import jsonenc, timestamps
from inferwatch.protocols import Decoded, decode_body, model_from_path
from inferwatch.records import Flag, InferenceRecord, PayloadRecord
from inferwatch.redact import Redactor


@dataclass(slots=True)
class Body:
    """One body as captured: at most the size limit of bytes, and the full size seen on the wire."""

    raw: bytes
    content_type: str | None = None
    size: int = 0
    truncated: bool = False
    content_encoding: str | None = None
    header_length: int | None = None
    """``Inference-Header-Content-Length``: a V2 body in the binary tensor extension (``protocols.v2_binary``)."""

    @classmethod
    def capture(
        cls,
        raw: bytes,
        content_type: str | None,
        limit: int,
        content_encoding: str | None = None,
        size: int | None = None,
    ) -> Body:
        full = len(raw) if size is None else size
        return cls(raw[:limit], content_type, full, full > limit, content_encoding)


@dataclass(slots=True)
class Exchange:
    """A raw request/response pair (either half may be missing) with the metadata known on the wire."""

    request_id: str
    received_at: float
    responded_at: float | None = None
    request: Body | None = None
    response: Body | None = None
    status_code: int | None = None
    method: str | None = None
    path: str | None = None
    source: str = "proxy"
    protocol: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    deployment: str | None = None
    namespace: str | None = None
    endpoint: str | None = None
    partial: bool = False
    collision: bool = False
    """Its request id was already used by another exchange: ``request_id`` was given a suffix."""
    error: str | None = None
    tags: dict[str, Any] = field(default_factory=dict)


class RecordBuilder:
    """Turns exchanges into records. Thread-safe; holds only configuration."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        self.redactor = redactor

    def build(self, ex: Exchange) -> InferenceRecord:
        rec = InferenceRecord(
            id=ex.request_id,
            received_at=timestamps.from_epoch(ex.received_at),
            responded_at=timestamps.from_epoch(ex.responded_at) if ex.responded_at else None,
            latency_ms=(ex.responded_at - ex.received_at) * 1000.0 if ex.responded_at else None,
            model_name=ex.model_name,
            model_version=ex.model_version,
            deployment=ex.deployment,
            namespace=ex.namespace,
            endpoint=ex.endpoint,
            protocol=ex.protocol,
            source=ex.source,
            method=ex.method,
            path=ex.path,
            status_code=ex.status_code,
            tags=dict(ex.tags),
            error=ex.error,
        )
        if ex.partial:
            rec.flag(Flag.PARTIAL)
        if ex.collision:
            rec.flag(Flag.COLLISION)
        if ex.error:
            rec.flag(Flag.UPSTREAM_ERROR)
        if ex.path and not rec.model_name:
            rec.model_name, version = model_from_path(ex.path)
            rec.model_version = rec.model_version or version
        req = self._side(rec, ex.request, "request", ex)
        resp = self._side(rec, ex.response, "response", ex)
        rec.protocol = rec.protocol or (req.protocol if req else None) or (resp.protocol if resp else None)
        self._instances(rec, req, resp)
        return rec

    def _side(self, rec: InferenceRecord, body: Body | None, kind: str, ex: Exchange) -> Decoded | None:
        if body is None:
            return None
        raw = _decompress(body.raw, body.content_encoding) if not body.truncated else body.raw
        out = PayloadRecord(content_type=body.content_type, size=body.size, truncated=body.truncated)
        if body.truncated:
            rec.flag(Flag.TRUNCATED)
        decoded = decode_body(
            raw,
            kind=kind,
            protocol=ex.protocol,
            path=ex.path,
            content_type=body.content_type,
            header_length=None if body.truncated else body.header_length,
        )
        redacted = False
        if self.redactor is not None and decoded.json is not None:
            masked = self.redactor.redact(decoded.json)
            if masked is not None:
                redacted = True
                rec.flag(Flag.REDACTED)
                raw = jsonenc.dumps(masked)  # a binary V2 BYTES tensor's raw elements as base64
                hint = decoded.protocol if decoded.payload is not None else ex.protocol
                decoded = decode_body(raw, kind=kind, protocol=hint, path=ex.path, content_type=body.content_type)
        out.raw, out.raw_encoding = _text(raw)
        out.protocol = decoded.protocol if decoded.payload is not None else None
        if decoded.payload is not None:
            out.decoded = decoded.payload.to_json()
            p = decoded.payload
            rec.model_name = rec.model_name or p.model_name
            rec.model_version = rec.model_version or p.model_version
            if kind == "request" and p.names:
                rec.feature_names = list(p.names)
        elif decoded.error is None and decoded.json is not None:  # understood, not tensors: an explanation
            out.protocol = decoded.protocol
        elif raw:
            out.parse_error = decoded.error
            if not body.truncated and not redacted:
                rec.flag(Flag.PARSE_ERROR)
        setattr(rec, kind, out)
        return decoded

    @staticmethod
    def _instances(rec: InferenceRecord, req: Decoded | None, resp: Decoded | None) -> None:
        req_rows = _rows(req)
        resp_rows = _rows(resp)
        n = max(len(req_rows), len(resp_rows))
        rec.instances = [
            {
                "request": req_rows[i] if i < len(req_rows) else None,
                "response": resp_rows[i] if i < len(resp_rows) else None,
            }
            for i in range(n)
        ]


def _rows(d: Decoded | None) -> list[dict[str, Any]]:
    if d is None or d.payload is None:
        return []
    try:
        return d.payload.rows()
    except Exception:  # a payload whose tensors disagree on the batch size keeps its decoded form only
        return []


def _decompress(raw: bytes, encoding: str | None) -> bytes:
    try:
        if encoding == "gzip":
            return gzip.decompress(raw)
        if encoding == "deflate":
            return zlib.decompress(raw)
    except (OSError, zlib.error, EOFError):
        return raw
    return raw


def _text(raw: bytes) -> tuple[str, str]:
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"
