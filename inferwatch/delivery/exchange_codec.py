"""Binary form of a raw ``Exchange`` for the write-ahead log: ``u32 n | n bytes of JSON metadata |
request body | response body``. Bodies stay raw bytes (no base64); their lengths are in the metadata, with every
other field of ``Body`` (an entry written before a field existed decodes with its default)."""

from __future__ import annotations

import struct
from dataclasses import fields
from typing import Any

import orjson

from inferwatch import jsonenc
from inferwatch.capture import Body, Exchange

_LEN = struct.Struct("<I")
_SIDES = ("request", "response")
_BODY = tuple(f.name for f in fields(Body) if f.name != "raw")
_FIELDS = tuple(f.name for f in fields(Exchange) if f.name not in _SIDES)


def encode_exchange(ex: Exchange) -> bytes:
    meta: dict[str, Any] = {name: getattr(ex, name) for name in _FIELDS}
    raws: list[bytes] = []
    for side in _SIDES:
        body: Body | None = getattr(ex, side)
        if body is None:
            meta[side] = None
            continue
        meta[side] = {k: getattr(body, k) for k in _BODY} | {"len": len(body.raw)}
        raws.append(body.raw)
    head = jsonenc.dumps(meta)
    return b"".join((_LEN.pack(len(head)), head, *raws))


def decode_exchange(data: bytes) -> Exchange:
    (n,) = _LEN.unpack_from(data)
    meta: dict[str, Any] = orjson.loads(data[_LEN.size : _LEN.size + n])
    off = _LEN.size + n
    for side in _SIDES:
        m = meta.get(side)
        if m is not None:
            size = m.pop("len")
            meta[side] = Body(raw=data[off : off + size], **m)
            off += size
    return Exchange(**meta)
