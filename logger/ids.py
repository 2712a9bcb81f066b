"""Which request id an exchange is logged under."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping

import orjson

from inferwatch.protocols.headers import REQUEST_ID_HEADERS

_PREFIX = uuid.uuid4().hex[:20]
_COUNTER = itertools.count()


def new_request_id() -> str:
    """A UUID-shaped id, unique across processes (random per-process prefix) and cheap (a counter)."""
    n = next(_COUNTER) & 0xFFFFFFFFFFFF
    p = _PREFIX
    return f"{p[:8]}-{p[8:12]}-{p[12:16]}-{p[16:20]}-{n:012x}"


def request_id_for(headers: Mapping[str, str], body: bytes | None, path: str) -> str:
    """The caller's id if it sent one (``x-request-id``, ``Seldon-Puid``, ``Ce-Requestid``, then a V2
    body's ``id``), else a new UUID. ``headers`` must be case-insensitive or lower-case keyed."""
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    if body and path.startswith("/v2/") and b'"id"' in body:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("id"), str) and doc["id"]:
            return str(doc["id"])
    return new_request_id()
