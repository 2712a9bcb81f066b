"""What the prediction path captures, and how it becomes an ``InferenceRecord`` in the background.

The hot path only fills an ``Exchange`` (raw bytes, a few headers, timestamps) and hands it to the
delivery pipeline. ``RecordBuilder.build`` runs on the pipeline's thread: it decompresses, decodes with the
protocol codecs, flattens instances, redacts and flags — none of that costs the caller any latency.

With redaction configured (``inferwatch.redact``) no body reaches a record unredacted: a body that decodes (or is
an explanation) is stored as its masked JSON and decoded from that; a body that cannot be redacted reliably —
truncated, or not parsable as its protocol — is *withheld*: only its size, content type, SHA-256 and (a safe
form of) its parse error are kept, unless the builder is told to keep such bodies as captured
(``unparsed="keep"``, flagged ``unredacted``). Tags (CloudEvents ``metadata``) are masked by field name.
``RecordBuilder.scrub`` applies the same to an exchange before it is written to disk (the write-ahead log).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from inferwatch import jsonenc, limits, timestamps
from inferwatch.errors import LimitExceeded
from inferwatch.limits import HttpLimits
from inferwatch.protocols import UNKNOWN, Decoded, decode_body, model_from_path
from inferwatch.records import Flag, InferenceRecord, PayloadRecord, Redaction
from inferwatch.redact import Redactor
from inferwatch.results import ResultRecord

_DECOMPRESSION = (limits.DECOMPRESSED_BYTES, limits.DECOMPRESSION_RATIO)
Unparsed = Literal["drop", "keep"]
"""What happens to a body redaction cannot handle: ``drop`` its bytes (default) or ``keep`` them as captured."""


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
    redaction: str | None = None
    """Set by ``RecordBuilder.scrub`` (a ``records.Redaction``): ``masked`` — ``raw`` is the masked JSON (plain,
    decompressed); ``withheld`` — ``raw`` is empty and ``sha256``/``parse_error`` describe the body; ``kept``."""
    sha256: str | None = None
    parse_error: str | None = None
    limit: str | None = None
    """Set by ``RecordBuilder`` when the body crossed a limit (``inferwatch.limits``) and could not be decoded:
    ``decompressed_bytes``/``decompression_ratio`` — ``raw`` is empty, ``sha256``/``size`` describe the compressed
    bytes captured; ``json_depth`` — ``raw`` is kept, not decoded."""
    refused_for: str | None = None
    """The limit a request was refused for on arrival (a CloudEvent too deep to read): ``raw`` is what was sent,
    ``parse_error`` why; it is recorded, not decoded."""

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


@dataclass(slots=True)
class _Side:
    """One body as the record gets it: ``body`` as it may be written to disk, ``raw`` the bytes to store
    (decompressed), ``decoded`` what the codecs made of them (``None`` when withheld)."""

    body: Body
    raw: bytes
    decoded: Decoded | None


class RecordBuilder:
    """Turns exchanges into records. Thread-safe; holds only configuration.

    ``redactor``: paths/fields masked before anything is stored (see the module doc); ``unparsed``: what happens
    to a body it cannot redact (``drop``: withheld; ``keep``: stored as captured and flagged ``unredacted``).
    ``limits``: a gzip/deflate body is decompressed up to ``decompressed_bytes``/``decompression_ratio`` and JSON
    decoded up to ``json_depth``; a body over one is recorded all the same (flagged ``limit_exceeded``, the reason in
    its ``parse_error``) and ``on_limit`` is called with the limit's name."""

    def __init__(
        self,
        redactor: Redactor | None = None,
        unparsed: Unparsed = "drop",
        limits: HttpLimits | None = None,
        on_limit: Callable[[str], None] | None = None,
    ) -> None:
        self.redactor = redactor if redactor else None
        self.unparsed = unparsed
        self.limits = limits or HttpLimits()
        self.on_limit = on_limit

    def scrub(self, ex: Exchange) -> Exchange:
        """``ex`` as it may be written to disk before its record is built (the write-ahead log): bodies and tags
        redacted as its record will be, so ``build(scrub(ex))`` is ``build(ex)``. ``ex`` itself without redaction."""
        if self.redactor is None:
            return ex
        req, resp = ex.request, ex.response
        return dataclasses.replace(
            ex,
            request=None if req is None else self._prepare(req, "request", ex).body,
            response=None if resp is None else self._prepare(resp, "response", ex).body,
            tags=self.redactor.mask_fields(ex.tags) or ex.tags,
        )

    def redact_result(self, result: ResultRecord) -> ResultRecord:
        """A detector's answer that merges into a logged record, its body masked like a body, its tags like tags."""
        if self.redactor is None:
            return result
        body, tags = self.redactor.redact(result.body), self.redactor.mask_fields(result.tags)
        if body is None and tags is None:
            return result
        return dataclasses.replace(result, body=result.body if body is None else body, tags=tags or result.tags)

    def build(self, ex: Exchange) -> InferenceRecord:
        """The record of ``ex`` (see the module doc for what redaction keeps)."""
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
        if self.redactor is not None and (tags := self.redactor.mask_fields(ex.tags)) is not None:
            rec.tags = tags
            rec.flag(Flag.REDACTED)
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
        side = self._prepare(body, kind, ex)
        body, raw, decoded = side.body, side.raw, side.decoded
        out = PayloadRecord(
            content_type=body.content_type,
            size=body.size,
            truncated=body.truncated,
            redaction=body.redaction,
            sha256=body.sha256,
        )
        setattr(rec, kind, out)
        if body.truncated:
            rec.flag(Flag.TRUNCATED)
        if limit := body.limit or (decoded.limit if decoded is not None else None):
            rec.flag(Flag.LIMIT_EXCEEDED)
            if self.on_limit is not None and limit != body.refused_for:  # refused on arrival: counted there
                self.on_limit(limit)
        if body.redaction in (Redaction.MASKED, Redaction.WITHHELD):
            rec.flag(Flag.REDACTED)
        elif body.redaction == Redaction.KEPT:
            rec.flag(Flag.UNREDACTED)
        if decoded is None:  # withheld
            out.parse_error = body.parse_error
            if body.parse_error and not body.truncated:
                rec.flag(Flag.PARSE_ERROR)
            return None
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
            if not body.truncated and body.redaction != Redaction.MASKED:  # a failure of the masked form is ours
                rec.flag(Flag.PARSE_ERROR)
        return decoded

    def _prepare(self, body: Body, kind: str, ex: Exchange) -> _Side:
        """Decode ``body`` and redact it: what a record may keep of it."""
        if body.redaction == Redaction.WITHHELD or body.limit in _DECOMPRESSION:  # done before the write-ahead log
            return _Side(body, b"", None)
        if body.refused_for is not None and body.redaction is None:  # not decoded: it is why it was refused
            refused = Decoded(UNKNOWN, None, None, body.parse_error)
            return _Side(body, body.raw, refused) if self.redactor is None else self._unredactable(body, b"", refused)
        try:
            raw = body.raw if body.truncated else self._decompress(body)
        except LimitExceeded as e:  # kept as the compressed bytes' size and hash (withheld too when redacting)
            over = Body(
                b"",
                body.content_type,
                body.size,
                body.truncated,
                redaction=None if self.redactor is None else Redaction.WITHHELD,
                sha256=hashlib.sha256(body.raw).hexdigest(),
                parse_error=e.message,
                limit=e.limit,
            )
            return _Side(over, b"", None)
        hlen = None if body.truncated else body.header_length

        def decode(data: bytes, protocol: str | None = ex.protocol, header_length: int | None = hlen) -> Decoded:
            return decode_body(
                data,
                kind=kind,
                protocol=protocol,
                path=ex.path,
                content_type=body.content_type,
                header_length=header_length,
                max_depth=self.limits.json_depth,
            )

        if self.redactor is None or body.redaction is not None or not raw:  # off, already done, or nothing to do
            return _Side(body, raw, decode(raw))
        decoded = decode(raw)
        if body.truncated or decoded.error is not None or decoded.json is None:
            # masking the prefix of a truncated body is not reliable (the cut may fall inside a value to mask, or
            # turn the rest into one string); what does not parse as its protocol cannot be masked field by field
            return self._unredactable(body, raw, decoded)
        masked = self.redactor.redact(decoded.json)
        if masked is None:
            return _Side(body, raw, decoded)
        raw = jsonenc.dumps(masked)  # a binary V2 BYTES tensor's raw elements as base64
        hint = decoded.protocol if decoded.payload is not None else ex.protocol
        safe = dataclasses.replace(body, raw=raw, content_encoding=None, header_length=None, redaction=Redaction.MASKED)
        return _Side(safe, raw, decode(raw, hint, None))

    def _decompress(self, body: Body) -> bytes:
        lim = self.limits
        return limits.decompress(body.raw, body.content_encoding, lim.decompressed_bytes, lim.decompression_ratio)

    def _unredactable(self, body: Body, raw: bytes, decoded: Decoded) -> _Side:
        if self.unparsed == "keep":
            return _Side(dataclasses.replace(body, redaction=Redaction.KEPT), raw, decoded)
        withheld = Body(
            b"",
            body.content_type,
            body.size,
            body.truncated,
            redaction=Redaction.WITHHELD,
            sha256=hashlib.sha256(body.raw).hexdigest(),
            parse_error=_safe_error(decoded),
            limit=decoded.limit or body.limit,
            refused_for=body.refused_for,
        )
        return _Side(withheld, b"", None)

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


def _safe_error(decoded: Decoded) -> str | None:
    """A withheld body's parse error, without what a codec may quote of it (numpy quotes the value it choked on).
    Errors of parsing itself (not JSON, not UTF-8, a broken binary header) name positions and sizes only."""
    if decoded.error is None:
        return None
    if decoded.json is None:
        return decoded.error
    return f"{decoded.protocol}: JSON that does not follow the protocol (the codec's reason may quote the body)"


def _text(raw: bytes) -> tuple[str, str]:
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"
