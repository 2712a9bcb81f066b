"""The one entry point the logger uses: raw body bytes -> ``Decoded`` (never raises for bad input)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson

from inferwatch import limits
from inferwatch.errors import CodecError, LimitExceeded
from inferwatch.protocols.aliases import V2, normalize_protocol
from inferwatch.protocols.base import REQUEST, RESPONSE, Codec
from inferwatch.protocols.paths import model_from_path, protocol_for_path
from inferwatch.protocols.payload import Payload
from inferwatch.protocols.v2_binary import parse_binary

log = logging.getLogger(__name__)
UNKNOWN = "unknown"
EXPLANATION = "alibi-explanation"
"""Label of an explainer's answer (alibi's ``Explanation.to_json()``): understood, but not a tensor payload."""
_FORM = "application/x-www-form-urlencoded"


@dataclass
class Decoded:
    """A body as far as it could be understood. ``payload`` is ``None`` and ``error`` says why on failure."""

    protocol: str
    json: Any | None
    payload: Payload | None
    error: str | None
    status: int = 400
    """The HTTP status of ``error`` for a service that answers it: 400 malformed, 422 a tensor that contradicts
    itself (``InvalidTensor``), 413 over the element limit (``TooManyElements``)."""
    limit: str | None = None
    """The transport limit (``inferwatch.limits``) the body crossed, when that is why it was not decoded."""


def decode_body(
    raw: bytes,
    codecs: dict[str, Codec],
    *,
    kind: str,
    protocol: str | None = None,
    path: str | None = None,
    content_type: str | None = None,
    header_length: int | None = None,
    max_depth: int = limits.MAX_JSON_DEPTH,
) -> Decoded:
    """Parse ``raw`` as JSON and decode it with the codec chosen by: protocol hint > path > sniffing.

    When the chosen codec rejects the body, the other codecs that recognise it are tried before giving up.
    ``header_length`` (``Inference-Header-Content-Length``) marks a V2 body in the binary tensor extension.
    JSON nested deeper than ``max_depth`` is not decoded (``error`` says so, ``limit`` is ``json_depth``).
    """
    if kind not in (REQUEST, RESPONSE):
        raise ValueError(f"kind must be 'request' or 'response', got {kind!r}")
    chosen = normalize_protocol(protocol) or (protocol_for_path(path) if path else None)
    if header_length is not None:
        chosen = V2  # the binary extension exists only in the V2 protocol
    label = chosen or UNKNOWN
    if not raw:
        return Decoded(label, None, None, "empty body")
    if header_length is not None:
        try:
            doc, error = parse_binary(bytes(raw), header_length), None
        except CodecError as e:
            return Decoded(label, None, None, e.message, e.status_code)
    else:
        doc, error = _parse(bytes(raw), content_type)
    if error is None:
        try:
            limits.check_depth(doc, max_depth)
        except LimitExceeded as e:
            return Decoded(label, None, None, e.message, limit=e.limit)
    if error is not None:
        return Decoded(label, None, None, error)
    order = [chosen] if chosen else []
    order += [name for name, codec in codecs.items() if name != chosen and codec.matches(doc)]
    if kind == RESPONSE and is_explanation(doc):
        return Decoded(EXPLANATION, doc, None, None)
    if not order:
        return Decoded(UNKNOWN, doc, None, f"no codec recognises the body ({_describe(doc)})")
    first_error: str | None = None
    status = 400
    for name in order:
        try:
            payload = _decode(codecs[name], doc, kind)
        except CodecError as e:
            if first_error is None:
                first_error, status = f"{name}: {e.message}", e.status_code
            continue
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as e:
            log.warning("codec %s failed on a %s body: %r", name, kind, e)
            first_error = first_error or f"{name}: {type(e).__name__}: {e}"
            continue
        if path and payload.model_name is None:
            payload.model_name, version = model_from_path(path)
            payload.model_version = payload.model_version or version
        return Decoded(name, doc, payload, None)
    return Decoded(order[0], doc, None, first_error, status)


def is_explanation(doc: Any) -> bool:
    """True for alibi's ``Explanation.to_json()`` (what Seldon's and KServe's explain endpoints answer):
    ``meta`` naming the explainer and listing its explanation kinds, next to a ``data`` object."""
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
        return False
    meta = doc.get("meta")
    return isinstance(meta, dict) and isinstance(meta.get("name"), str) and isinstance(meta.get("explanations"), list)


def _decode(codec: Codec, doc: Any, kind: str) -> Payload:
    return codec.decode_request(doc) if kind == REQUEST else codec.decode_response(doc)


def _parse(raw: bytes, content_type: str | None) -> tuple[Any, str | None]:
    media = (content_type or "").split(";")[0].strip().lower()
    if media == _FORM and raw.startswith(b"json="):  # Seldon's legacy form-encoded predictions
        try:
            raw = parse_qs(raw.decode("utf-8"))["json"][0].encode("utf-8")
        except (UnicodeDecodeError, KeyError, IndexError):
            return None, "form body without a usable 'json' field"
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError as e:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return None, f"not UTF-8 text (content-type {content_type or 'absent'})"
        return None, f"not JSON (content-type {content_type or 'absent'}): {e}"


def _describe(doc: Any) -> str:
    if isinstance(doc, dict):
        keys = ", ".join(sorted(map(str, doc))[:10])
        return f"object with keys: {keys}" if keys else "empty object"
    return f"JSON {type(doc).__name__}"
