"""Which request id an exchange is logged under."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import orjson

from inferwatch.protocols.headers import REQUEST_ID_HEADERS


def new_request_id() -> str:
    return str(uuid.uuid4())


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
