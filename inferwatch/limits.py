"""Transport limits every HTTP service enforces before it does any work, and the two bounded decoders they use.

The limits (``HttpLimits``, one value object per service, built from its settings) and where each is enforced:

============================  ===========  =====================================================================
limit (metric label)          answer       enforced by
============================  ===========  =====================================================================
``header_bytes``              431          ``inferwatch.guard`` (request line + header fields, while they arrive)
``header_count``              431          ``inferwatch.guard``
``read_timeout``              408 / close  ``inferwatch.guard``: headers within ``header_timeout``, the body
                                           within ``body_timeout`` of its headers
``body_bytes``                413          ``inferwatch.guard`` (``Content-Length`` up front, else while it arrives)
``json_depth``                400          ``loads`` (every JSON decode of a request body or CloudEvent)
``decompressed_bytes``,       413 / flag   ``decompress`` (gzip/deflate bodies, streamed with a cap)
``decompression_ratio``
============================  ===========  =====================================================================

Every rejection raises (or answers) ``inferwatch.errors.LimitExceeded`` naming the limit and its flag, and counts
one ``inferwatch_http_rejected_total{limit=...}`` on the service's registry (``inferwatch.metrics.rejected_counter``).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from itertools import chain
from typing import Any

import orjson

from inferwatch.errors import LimitExceeded

BODY_BYTES = "body_bytes"
DECOMPRESSED_BYTES = "decompressed_bytes"
DECOMPRESSION_RATIO = "decompression_ratio"
JSON_DEPTH = "json_depth"
HEADER_BYTES = "header_bytes"
HEADER_COUNT = "header_count"
READ_TIMEOUT = "read_timeout"
LIMITS = (BODY_BYTES, DECOMPRESSED_BYTES, DECOMPRESSION_RATIO, JSON_DEPTH, HEADER_BYTES, HEADER_COUNT, READ_TIMEOUT)
"""Every ``limit`` label of ``inferwatch_http_rejected_total``."""

MAX_JSON_DEPTH = 64
"""Default nesting depth of a JSON body or CloudEvent: arrays/objects inside one another (``[[1]]`` is 2)."""
STORABLE_JSON_DEPTH = 254
"""The deepest document ``inferwatch.jsonenc`` (orjson) can write; a record holds a body's decoded form a few
levels down, so ``--max-json-depth`` is kept well below (``JSON_DEPTH_CEILING``)."""
JSON_DEPTH_CEILING = 200
"""Highest ``--max-json-depth`` accepted: a record adds fewer than ``STORABLE_JSON_DEPTH - JSON_DEPTH_CEILING``
levels around a body (tests/inferwatch/test_limits.py checks it)."""
RATIO_FLOOR = 1 << 20
"""Decompressed size up to which the ratio limit does not apply (a small body of zeros compresses ~1000:1)."""

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_CONTAINERS = (list, dict)
_CONTAINER_SET = frozenset(_CONTAINERS)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """One service's transport limits (``None``: not enforced). Defaults are the services' defaults."""

    body_bytes: int | None = 32 << 20
    header_bytes: int = 64 << 10
    header_count: int = 100
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    json_depth: int = MAX_JSON_DEPTH
    decompressed_bytes: int = 16 << 20
    decompression_ratio: float = 100.0


def json_depth(doc: Any, stop_above: int | None = None) -> int:
    """Nesting depth of a parsed JSON document (a scalar is 0, ``[]`` is 1); stops counting past ``stop_above``.

    Level by level, each level flattened and its types collected in C (``chain``, ``map(type, ...)``): a large
    numeric tensor costs a few passes at C speed, not a Python step per row."""
    depth = 0
    level: list[Any] = [doc] if type(doc) in _CONTAINERS else []
    while level:
        depth += 1
        if stop_above is not None and depth > stop_above:
            break
        kinds = set(map(type, level))
        if kinds == {list}:
            flat = list(chain.from_iterable(level))
        elif kinds == {dict}:
            flat = list(chain.from_iterable(map(dict.values, level)))
        else:
            flat = list(chain.from_iterable(n.values() if type(n) is dict else n for n in level))
        inner = set(map(type, flat))
        if list not in inner and dict not in inner:
            break
        level = flat if inner <= _CONTAINER_SET else [v for v in flat if type(v) in _CONTAINERS]
    return depth


def check_depth(doc: Any, max_depth: int, what: str = "JSON body") -> None:
    """``LimitExceeded`` (400, ``json_depth``) when ``doc`` nests deeper than ``max_depth``."""
    if json_depth(doc, max_depth) > max_depth:
        raise LimitExceeded(
            JSON_DEPTH,
            f"{what} is nested deeper than {max_depth} levels (--max-json-depth)",
            status_code=400,
        )


def loads(raw: bytes | str, max_depth: int, what: str = "JSON body") -> Any:
    """``orjson.loads`` then ``check_depth``: ``orjson.JSONDecodeError`` for what is not JSON (orjson itself stops
    at depth 1024), ``LimitExceeded`` for what nests too deep."""
    doc = orjson.loads(raw)
    check_depth(doc, max_depth, what)
    return doc


def decompress(raw: bytes, encoding: str | None, max_bytes: int, max_ratio: float | None = None) -> bytes:
    """``raw`` decoded per its ``Content-Encoding`` (gzip, deflate; anything else as is), streamed so that no more
    than the cap is ever produced: ``max_bytes``, and ``max_ratio`` times ``len(raw)`` once that is above
    ``RATIO_FLOOR``. Over the cap -> ``LimitExceeded`` (413, ``decompressed_bytes`` or ``decompression_ratio``).
    A body that is not valid compressed data (or ends early) comes back as it is."""
    wbits = _WBITS.get((encoding or "").strip().lower())
    if wbits is None or not raw:
        return raw
    cap, limit = max_bytes, DECOMPRESSED_BYTES
    if max_ratio is not None and max(RATIO_FLOOR, int(len(raw) * max_ratio)) < cap:
        cap, limit = max(RATIO_FLOOR, int(len(raw) * max_ratio)), DECOMPRESSION_RATIO
    out: list[bytes] = []
    total, data = 0, raw
    try:
        while data:  # a gzip body may hold several members
            d = zlib.decompressobj(wbits)
            part = d.decompress(data, cap + 1 - total)
            total += len(part)
            if total > cap:
                raise _over(limit, cap, len(raw), max_bytes, max_ratio)
            out.append(part)
            if not d.eof:
                return raw  # truncated compressed data: kept as captured
            data = d.unused_data if wbits != zlib.MAX_WBITS else b""
    except zlib.error:
        return raw
    return out[0] if len(out) == 1 else b"".join(out)


def _over(limit: str, cap: int, size: int, max_bytes: int, max_ratio: float | None) -> LimitExceeded:
    if limit == DECOMPRESSION_RATIO:
        what = f"more than {max_ratio:g} times its {size} compressed bytes (--max-decompression-ratio)"
    else:
        what = f"more than {max_bytes} bytes (--max-decompressed-bytes)"
    return LimitExceeded(limit, f"compressed body decompresses to {what}")
