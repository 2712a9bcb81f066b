"""Request ids, declared once: where they travel, which one an exchange is known by, how a new one is made.

Every service asks this module: the logger's proxy (which id to log an exchange under and return in
``x-request-id``), result records of detectors and explainers (which logged request they belong to), the
detector's feedback endpoint (which logged response a Feedback is about). CloudEvents carry the id in their
``requestid``/``id`` attributes; the CloudEvents codec reads those (``inferwatch.protocols.cloudevents``).
"""

from __future__ import annotations

import itertools
import urllib.parse
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

X_REQUEST_ID = "x-request-id"
SELDON_PUID = "seldon-puid"
CE_REQUEST_ID = "ce-requestid"
CE_ID = "ce-id"
#: HTTP headers (lower-case) a request id is looked for in, in precedence order.
REQUEST_ID_HEADERS = (X_REQUEST_ID, SELDON_PUID, CE_REQUEST_ID)
#: The SeldonMessages of a Seldon ``Feedback`` body whose ``meta.puid`` names the request, in precedence order.
FEEDBACK_PARTS = ("request", "response", "truth")

_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")
_PREFIX = uuid.uuid4().hex[:20]
_COUNTER = itertools.count()


def new_request_id() -> str:
    """A UUID-shaped id, unique across processes (random per-process prefix) and cheap (a counter)."""
    n = next(_COUNTER) & 0xFFFFFFFFFFFF
    p = _PREFIX
    return f"{p[:8]}-{p[8:12]}-{p[12:16]}-{p[16:20]}-{n:012x}"


def header_value(request_id: str) -> str:
    """``request_id`` as an ``x-request-id`` header value: unchanged when it is visible ASCII, else percent-encoded
    (UTF-8), so an id taken from a body (a V2 ``id`` of any text) can never break the answer's headers."""
    if request_id.isascii() and request_id.isprintable() and " " not in request_id and "%" not in request_id:
        return request_id
    return urllib.parse.quote(request_id, safe=_HEADER_SAFE)


def from_headers(headers: Mapping[str, str], *, ce_id: bool = False) -> str | None:
    """The first non-empty of ``x-request-id``, ``Seldon-Puid``, ``Ce-Requestid`` (then ``Ce-Id`` when
    ``ce_id``). ``headers`` must be case-insensitive or lower-case keyed."""
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return (headers.get(CE_ID) or None) if ce_id else None


def _puid(message: Any) -> str | None:
    meta = message.get("meta") if isinstance(message, dict) else None
    puid = meta.get("puid") if isinstance(meta, dict) else None
    return str(puid) if puid not in (None, "") else None


def from_body(doc: Any) -> str | None:
    """The id a decoded JSON body carries: V2's (and KServe V2's) ``id``, a SeldonMessage's ``meta.puid``, or
    a Seldon Feedback's request/response/truth ``meta.puid``; ``None`` if it carries none."""
    if not isinstance(doc, dict):
        return None
    own = doc.get("id")
    if isinstance(own, str) and own:
        return own
    return _puid(doc) or next(filter(None, (_puid(doc.get(part)) for part in FEEDBACK_PARTS)), None)


def request_id_for(headers: Mapping[str, str], body: bytes | None, path: str) -> str:
    """The id the logger's proxy logs an exchange under: the caller's header if it sent one, then a V2 body's
    ``id`` (only V2 paths are parsed, and only if the bytes mention ``"id"``), else a new one."""
    rid = from_headers(headers)
    if rid:
        return rid
    if body and path.startswith("/v2/") and b'"id"' in body:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("id"), str) and doc["id"]:
            return str(doc["id"])
    return new_request_id()
