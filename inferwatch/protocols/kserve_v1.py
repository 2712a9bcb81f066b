"""TensorFlow-Serving / KServe v1 JSON: ``instances`` (row) or ``inputs`` (columnar) requests,
``predictions`` (row) or ``outputs`` (columnar) responses, ``{"error": ...}`` on failure.

Row format with objects (``[{"a": 1, "b": [..]}, ...]``) is decoded as one tensor per key (``names`` = the
keys); otherwise one tensor named after the field (``instances``, ``predictions``, ``inputs``,
``outputs``). Columnar objects give one tensor per key. ``{"b64": "..."}`` values are binary and decode to
``bytes``. Other top-level keys (``signature_name``...) are kept in ``parameters``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar

import numpy as np

from inferwatch.errors import CodecError
from inferwatch.protocols import limits
from inferwatch.protocols.base import REQUEST, RESPONSE
from inferwatch.protocols.datatypes import BYTES, datatype_of, nest, object_shape, sniff_array
from inferwatch.protocols.payload import Payload, Tensor

_FIELDS = {REQUEST: ("instances", "inputs"), RESPONSE: ("predictions", "outputs")}
_ROWS = frozenset({"instances", "predictions"})
_B64 = "b64"


class KServeV1Codec:
    """KServe v1 / TF-Serving ``:predict`` and ``:explain`` bodies."""

    name: ClassVar[str] = "kserve-v1"

    def matches(self, body: Any) -> bool:
        if not isinstance(body, dict):
            return False
        if "instances" in body or "predictions" in body:
            return True
        for key in ("inputs", "outputs"):
            value = body.get(key)
            if isinstance(value, dict) or (
                isinstance(value, list) and not (value and isinstance(value[0], dict) and "datatype" in value[0])
            ):
                return True
        return False

    def decode_request(self, body: Any) -> Payload:
        return _decode(body, REQUEST)

    def decode_response(self, body: Any) -> Payload:
        return _decode(body, RESPONSE)

    def encode_request(self, payload: Payload) -> dict[str, Any]:
        return _encode(payload, REQUEST)

    def encode_response(self, payload: Payload) -> dict[str, Any]:
        return _encode(payload, RESPONSE)


def _decode(body: Any, kind: str) -> Payload:
    if not isinstance(body, dict):
        raise CodecError(f"KServe v1 body must be a JSON object, got {type(body).__name__}")
    present = [f for f in _FIELDS[kind] if f in body]
    payload = Payload(protocol=KServeV1Codec.name, kind=kind, tensors=[])
    if not present:
        if kind == RESPONSE and "error" in body:
            payload.error = str(body["error"])
            payload.parameters = dict(body)
            return payload
        raise CodecError(f"KServe v1 {kind} has none of {', '.join(_FIELDS[kind])}")
    if len(present) > 1:
        raise CodecError(f"KServe v1 {kind} has both {present[0]} and {present[1]}")
    field = present[0]
    payload.extra["field"] = field
    payload.parameters = {k: v for k, v in body.items() if k != field}
    if kind == RESPONSE and "error" in body:
        payload.error = str(body["error"])
    value = body[field]
    if field in _ROWS:
        if not isinstance(value, list):
            raise CodecError(f"KServe v1 '{field}' must be a list, got {type(value).__name__}")
        if value and all(isinstance(v, dict) and not _is_b64(v) for v in value):
            payload.tensors = _named_rows(value, field)
            payload.names = [t.name for t in payload.tensors]
            payload.extra["layout"] = "named"
        else:
            payload.tensors = [_values_tensor(field, value)]
    elif isinstance(value, dict) and not _is_b64(value):
        payload.tensors = [_values_tensor(k, v) for k, v in value.items()]
        payload.names = list(value)
        payload.extra["layout"] = "named"
    else:
        payload.tensors = [_values_tensor(field, value)]
    return payload


def _named_rows(rows: list[dict[str, Any]], field: str) -> list[Tensor]:
    keys = list(rows[0])
    for i, row in enumerate(rows):
        if list(row) != keys:
            raise CodecError(f"KServe v1 {field}[{i}] has keys {sorted(row)}, {field}[0] has {sorted(keys)}")
    return [_values_tensor(k, [row[k] for row in rows]) for k in keys]


def _values_tensor(name: str, values: Any) -> Tensor:
    arr = sniff_array(values)
    if arr is not None:
        limits.element_count(list(arr.shape), f"KServe v1 {name!r}")
        return Tensor(name, datatype_of(arr), list(arr.shape), arr)
    shape, flat = object_shape(values)
    limits.element_count(shape, f"KServe v1 {name!r}")
    return Tensor(name, BYTES, shape, [_from_json(v) for v in flat])


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(_B64), str)


def _from_json(value: Any) -> Any:
    if _is_b64(value):
        try:
            return base64.b64decode(value[_B64], validate=True)
        except (binascii.Error, ValueError) as e:
            raise CodecError("KServe v1 {'b64': ...} value is not valid base64") from e
    return value


def _to_json(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {_B64: base64.b64encode(value).decode("ascii")}
    return value


def _column(t: Tensor) -> Any:
    if isinstance(t.data, np.ndarray):
        return t.nested()
    flat = [_to_json(v) for v in t.data]
    return nest(flat, t.shape) if t.shape else (flat[0] if flat else None)


def _encode(payload: Payload, kind: str) -> dict[str, Any]:
    body: dict[str, Any] = dict(payload.parameters)
    if not payload.tensors and payload.error is not None and "field" not in payload.extra:
        body.setdefault("error", payload.error)
        return body
    field = payload.extra.get("field") or _FIELDS[kind][0]
    named = payload.extra.get("layout") == "named"
    if named and field in _ROWS:
        columns = [(t.name, _column(t)) for t in payload.tensors]
        n = payload.tensors[0].batch_size() if payload.tensors else 0
        body[field] = [{name: col[i] for name, col in columns} for i in range(n)]
    elif named:
        body[field] = {t.name: _column(t) for t in payload.tensors}
    else:
        if len(payload.tensors) != 1:
            raise CodecError(f"KServe v1 '{field}' needs one tensor or a named layout, got {len(payload.tensors)}")
        body[field] = _column(payload.tensors[0])
    return body
