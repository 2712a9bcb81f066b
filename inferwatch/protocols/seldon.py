"""Seldon Core v1 ``SeldonMessage`` JSON (``prediction.proto``) and its ``Feedback`` message.

A message carries one of ``data`` (``names`` + one of ``ndarray`` / ``tensor`` / ``tftensor``), ``strData``,
``jsonData`` or ``binData`` (base64), plus ``meta`` (``puid``, ``tags``, ``routing``, ``requestPath``,
``metrics``) and, on errors, ``status``. Decoded as one tensor named ``data`` (or ``strData``/``jsonData``/
``binData``), ``names`` from ``data.names``, ``parameters`` = ``meta`` and ``id`` = ``meta.puid``; the data
kind is kept in ``extra["data_kind"]``. A feedback body (``request``/``response``/``truth``/``reward``)
yields the tensors of each part prefixed ``request.``, ``response.``, ``truth.`` and ``parameters["reward"]``.
A ``tensor`` whose values redaction masked (``datatypes.REDACTED`` in place of numbers) decodes as ``BYTES``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar

import numpy as np

from inferwatch.errors import CodecError, InvalidTensor
from inferwatch.protocols import limits, tftensor
from inferwatch.protocols.base import REQUEST, RESPONSE
from inferwatch.protocols.datatypes import (
    BYTES,
    REDACTED,
    check_shape,
    datatype_of,
    element_json,
    nest,
    numeric_array,
    object_shape,
    size_of,
    sniff_array,
    to_lists,
)
from inferwatch.protocols.payload import Payload, Tensor

DATA_KINDS = ("ndarray", "tensor", "tftensor")
BODY_KINDS = ("strData", "jsonData", "binData")
FEEDBACK_PARTS = ("request", "response", "truth")
_CONTENT_TYPES = {"strData": "str", "jsonData": "json", "binData": "base64"}
_MESSAGE_KEYS = frozenset({"data", "meta", "status", *BODY_KINDS})
_FEEDBACK_KEYS = frozenset({*FEEDBACK_PARTS, "reward"})


class SeldonCodec:
    """Seldon v1 JSON messages (``/api/v1.0/predictions``, ``/predict``, ``/api/v1.0/feedback``...)."""

    name: ClassVar[str] = "seldon"

    def matches(self, body: Any) -> bool:
        if not isinstance(body, dict):
            return False
        if isinstance(body.get("data"), dict) or any(k in body for k in BODY_KINDS):
            return True
        if isinstance(body.get("status"), dict) and not body.keys() - {"status", "meta"}:
            return True
        return _is_feedback(body)

    def decode_request(self, body: Any) -> Payload:
        return _decode(body, REQUEST)

    def decode_response(self, body: Any) -> Payload:
        return _decode(body, RESPONSE)

    def encode_request(self, payload: Payload) -> dict[str, Any]:
        return _encode(payload)

    def encode_response(self, payload: Payload) -> dict[str, Any]:
        return _encode(payload)


def _is_feedback(body: dict[str, Any]) -> bool:
    return bool(body) and not body.keys() & _MESSAGE_KEYS and bool(body.keys() & {"truth", "reward", "request"})


def _decode(body: Any, kind: str) -> Payload:
    if not isinstance(body, dict):
        raise CodecError(f"Seldon message must be a JSON object, got {type(body).__name__}")
    if _is_feedback(body):
        return _decode_feedback(body, kind)
    return _decode_message(body, kind)


def _decode_message(doc: dict[str, Any], kind: str) -> Payload:
    if doc and not doc.keys() & _MESSAGE_KEYS:
        keys = ", ".join(sorted(doc)[:10])
        raise CodecError(f"not a SeldonMessage: none of data/strData/jsonData/binData/meta/status (keys: {keys})")
    payload = Payload(protocol=SeldonCodec.name, kind=kind, tensors=[])
    meta = doc.get("meta")
    if "meta" in doc:
        if not isinstance(meta, dict):
            raise CodecError(f"Seldon 'meta' must be an object, got {type(meta).__name__}")
        payload.parameters = dict(meta)
        puid = meta.get("puid")
        payload.id = str(puid) if puid not in (None, "") else None
        if not meta:
            payload.extra["meta"] = True
    if "status" in doc:
        payload.extra["status"] = doc["status"]
        payload.error = _status_error(doc["status"])
    present = [k for k in ("data", *BODY_KINDS) if k in doc]
    if len(present) > 1:
        raise CodecError(f"Seldon message has more than one of data/strData/jsonData/binData: {present}")
    if present:
        payload.extra["data_kind"] = present[0]
    if "data" in doc:
        _decode_data(doc["data"], payload)
    elif present:
        payload.tensors = [_body_tensor(present[0], doc[present[0]])]
    other = {k: v for k, v in doc.items() if k not in _MESSAGE_KEYS}
    if other:
        payload.extra["other"] = other
    return payload


def _status_error(status: Any) -> str | None:
    if not isinstance(status, dict):
        return str(status)
    code = status.get("code")
    failed = status.get("status") in ("FAILURE", 1) or (isinstance(code, int) and (code < 0 or code >= 400))
    if not failed:
        return None
    text = status.get("info") or status.get("reason") or "failure"
    return f"{code}: {text}" if code is not None else str(text)


def _decode_data(data: Any, payload: Payload) -> None:
    if not isinstance(data, dict):
        raise CodecError(f"Seldon 'data' must be an object, got {type(data).__name__}")
    names = data.get("names")
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise CodecError("Seldon data.names must be a list of strings")
        payload.names = list(names)
    kinds = [k for k in DATA_KINDS if k in data]
    if len(kinds) > 1:
        raise CodecError(f"Seldon data has more than one of ndarray/tensor/tftensor: {kinds}")
    payload.extra["data_kind"] = kinds[0] if kinds else "none"
    if kinds == ["ndarray"]:
        payload.tensors = [_ndarray_tensor(data["ndarray"])]
    elif kinds == ["tensor"]:
        payload.tensors = [_tensor_tensor(data["tensor"])]
    elif kinds == ["tftensor"]:
        payload.tensors = [tftensor.decode(data["tftensor"])]
    other = {k: v for k, v in data.items() if k not in ("names", *DATA_KINDS)}
    if other:
        payload.extra["data_other"] = other


def _ndarray_tensor(value: Any) -> Tensor:
    if not isinstance(value, list):
        raise CodecError(f"Seldon data.ndarray must be a list, got {type(value).__name__}")
    arr = sniff_array(value)
    if arr is not None:
        limits.element_count(list(arr.shape), "Seldon data.ndarray")
        return Tensor("data", datatype_of(arr), list(arr.shape), arr)
    shape, flat = object_shape(value)
    limits.element_count(shape, "Seldon data.ndarray")
    return Tensor("data", BYTES, shape, flat)


def _tensor_tensor(value: Any) -> Tensor:
    if not isinstance(value, dict):
        raise CodecError("Seldon data.tensor must be an object with 'shape' and 'values'")
    shape = check_shape(value.get("shape"), "Seldon data.tensor")
    limits.element_count(shape, "Seldon data.tensor")
    values = value.get("values", [])
    if isinstance(values, list) and REDACTED in values:
        return _redacted_tensor(shape, values)
    if not isinstance(values, list):
        raise CodecError(f"Seldon data.tensor.values must be a list of numbers, got {type(values).__name__}")
    arr = numeric_array(values, "FP64", "Seldon data.tensor.values FP64")
    if arr.ndim != 1 or arr.size != size_of(shape):
        raise _count_error(shape, arr.size)
    return Tensor("data", "FP64", shape, arr.reshape(shape))


def _count_error(shape: list[int], sent: int) -> InvalidTensor:
    return InvalidTensor(
        f"Seldon data.tensor: shape {shape} needs {size_of(shape)} values, got {sent}",
        details={"where": "Seldon data.tensor", "shape": shape, "declared": size_of(shape), "sent": sent},
    )


def _redacted_tensor(shape: list[int], values: list[Any]) -> Tensor:
    """``tensor.values`` in which redaction masked some values: a ``BYTES`` tensor of the values as they are."""
    if len(values) != size_of(shape):
        raise _count_error(shape, len(values))
    if any(v != REDACTED and (isinstance(v, bool) or not isinstance(v, int | float)) for v in values):
        raise CodecError("Seldon data.tensor.values must be numbers (or the redaction mask)")
    return Tensor("data", BYTES, shape, list(values))


def _body_tensor(kind: str, value: Any) -> Tensor:
    params = {"content_type": _CONTENT_TYPES[kind]}
    if kind == "strData" and not isinstance(value, str):
        raise CodecError("Seldon strData must be a string")
    if kind == "binData":
        if not isinstance(value, str):
            raise CodecError("Seldon binData must be a base64 string")
        try:
            value = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as e:
            raise CodecError("Seldon binData is not valid base64") from e
    return Tensor(kind, BYTES, [1], [value], params)


def json_message(value: Any, kind: str = RESPONSE, meta: dict[str, Any] | None = None) -> Payload:
    """A SeldonMessage carrying ``jsonData`` (how a Seldon graph component answers with any JSON, e.g. a detector's
    result); ``meta`` is always written, ``{}`` when empty, as Seldon's Python wrapper does."""
    tensor = Tensor("jsonData", BYTES, [1], [value], {"content_type": _CONTENT_TYPES["jsonData"]})
    return Payload(SeldonCodec.name, kind, [tensor], parameters=dict(meta or {}), extra={"meta": True})


def _decode_feedback(doc: dict[str, Any], kind: str) -> Payload:
    payload = Payload(protocol=SeldonCodec.name, kind=kind, tensors=[])
    parts: dict[str, Any] = {}
    for part in FEEDBACK_PARTS:
        if part not in doc:
            continue
        if not isinstance(doc[part], dict):
            raise CodecError(f"Seldon feedback '{part}' must be a SeldonMessage object")
        sub = _decode_message(doc[part], kind)
        for t in sub.tensors:
            t.name = f"{part}.{t.name}"
        payload.tensors.extend(sub.tensors)
        parts[part] = {"names": sub.names, "parameters": sub.parameters, "extra": sub.extra}
        if part == "request":
            payload.id = sub.id
    if "reward" in doc:
        payload.parameters["reward"] = doc["reward"]
    payload.extra["feedback"] = parts
    other = {k: v for k, v in doc.items() if k not in _FEEDBACK_KEYS}
    if other:
        payload.extra["other"] = other
    return payload


def _encode(payload: Payload) -> dict[str, Any]:
    if "feedback" in payload.extra:
        return _encode_feedback(payload)
    return _encode_message(payload)


def _encode_message(payload: Payload) -> dict[str, Any]:
    body: dict[str, Any] = {}
    extra = payload.extra
    if "status" in extra:
        body["status"] = extra["status"]
    meta = dict(payload.parameters)
    if payload.id is not None and "puid" not in meta:
        meta["puid"] = payload.id
    if meta or extra.get("meta"):
        body["meta"] = meta
    kind = extra.get("data_kind") or _infer_kind(payload)
    if kind in BODY_KINDS:
        if len(payload.tensors) != 1:
            raise CodecError(f"Seldon {kind} needs exactly one tensor, got {len(payload.tensors)}")
        value = payload.tensors[0].data[0]
        body[kind] = element_json(value) if kind == "binData" else value
    elif kind is not None:
        body["data"] = _encode_data(payload, kind)
    body.update(extra.get("other", {}))
    return body


def _infer_kind(payload: Payload) -> str | None:
    if len(payload.tensors) == 1 and payload.tensors[0].name in BODY_KINDS:
        return payload.tensors[0].name
    if payload.tensors or payload.names is not None:
        return "ndarray"
    return None


def _encode_data(payload: Payload, kind: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if payload.names is not None:
        data["names"] = payload.names
    if kind != "none":
        if len(payload.tensors) != 1:
            raise CodecError(f"Seldon data needs exactly one tensor, got {len(payload.tensors)}")
        t = payload.tensors[0]
        if kind == "ndarray":
            data["ndarray"] = t.nested() if isinstance(t.data, np.ndarray) else nest(list(t.data), t.shape)
        elif kind == "tensor":
            data["tensor"] = {"shape": list(t.shape), "values": _tensor_values(t)}
        else:
            data["tftensor"] = tftensor.encode(t)
    data.update(payload.extra.get("data_other", {}))
    return data


def _tensor_values(t: Tensor) -> list[Any]:
    if isinstance(t.data, np.ndarray):
        values: list[Any] = to_lists(t.data.reshape(-1))
        return values
    if REDACTED not in t.data:
        raise CodecError("Seldon data.tensor needs numeric data")
    return list(t.data)  # masked by redaction: numbers and masks, as decoded


def _encode_feedback(payload: Payload) -> dict[str, Any]:
    body: dict[str, Any] = {}
    parts: dict[str, Any] = payload.extra["feedback"]
    for part, info in parts.items():
        prefix = f"{part}."
        tensors = [
            Tensor(t.name[len(prefix) :], t.datatype, t.shape, t.data, t.parameters, t.extra)
            for t in payload.tensors
            if t.name.startswith(prefix)
        ]
        sub = Payload(
            protocol=SeldonCodec.name,
            kind=payload.kind,
            tensors=tensors,
            names=info.get("names"),
            parameters=info.get("parameters", {}),
            extra=info.get("extra", {}),
        )
        body[part] = _encode_message(sub)
    if "reward" in payload.parameters:
        body["reward"] = payload.parameters["reward"]
    body.update(payload.extra.get("other", {}))
    return body
