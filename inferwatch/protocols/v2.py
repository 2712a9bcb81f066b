"""Open Inference Protocol (V2 / KServe v2 / MLServer / Triton) JSON bodies.

Every input (request) and output (response) is decoded with its ``parameters``. ``data`` may be flat or
nested; either way it must hold ``prod(shape)`` values. BYTES elements are JSON strings; when
``parameters.content_type`` is ``base64`` (MLServer's ``Base64Codec``) they are decoded to ``bytes`` — an
element that is not canonical base64 stays a ``str``, as MLServer keeps invalid base64 as-is.
``null`` in float data is NaN (MLServer writes NaN as ``null``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from inferwatch.errors import CodecError, InvalidTensor
from inferwatch.protocols import limits
from inferwatch.protocols.base import REQUEST, RESPONSE
from inferwatch.protocols.datatypes import (
    BYTES,
    DATATYPES,
    V2_TO_NUMPY,
    check_shape,
    nest,
    numeric_array,
    object_shape,
    size_of,
    to_lists,
    widest_datatype,
)
from inferwatch.protocols.payload import Payload, Tensor

BASE64 = "base64"
_TENSOR_KEYS = frozenset({"name", "shape", "datatype", "parameters", "data"})
_REQUEST_KEYS = frozenset({"id", "parameters", "inputs", "outputs"})
_RESPONSE_KEYS = frozenset({"model_name", "model_version", "id", "parameters", "outputs", "error"})


class V2Codec:
    """Requests ``{"id", "parameters", "inputs", "outputs"}``; responses ``{"model_name", "outputs"...}``."""

    name: ClassVar[str] = "v2"

    def matches(self, body: Any) -> bool:
        if not isinstance(body, dict):
            return False
        for key in ("inputs", "outputs"):
            items = body.get(key)
            if isinstance(items, list) and items and isinstance(items[0], dict) and "datatype" in items[0]:
                return True
        return False

    def decode_request(self, body: Any) -> Payload:
        doc = _object(body)
        if "inputs" not in doc:
            raise CodecError("V2 request has no 'inputs'")
        tensors = _decode_tensors(doc["inputs"], "inputs")
        payload = self._message(doc, REQUEST, tensors, _REQUEST_KEYS)
        if "outputs" in doc:
            payload.extra["outputs"] = doc["outputs"]
        return payload

    def decode_response(self, body: Any) -> Payload:
        doc = _object(body)
        if "outputs" not in doc:
            if "error" in doc:
                payload = self._message(doc, RESPONSE, [], _RESPONSE_KEYS)
                payload.error = str(doc["error"])
                payload.extra["error"] = doc["error"]
                return payload
            raise CodecError("V2 response has neither 'outputs' nor 'error'")
        payload = self._message(doc, RESPONSE, _decode_tensors(doc["outputs"], "outputs"), _RESPONSE_KEYS)
        payload.model_name = _opt_str(doc, "model_name")
        payload.model_version = _opt_str(doc, "model_version")
        if "error" in doc:
            payload.error = str(doc["error"])
            payload.extra["error"] = doc["error"]
        return payload

    def encode_request(self, payload: Payload) -> dict[str, Any]:
        body: dict[str, Any] = {}
        self._head(body, payload)
        body["inputs"] = [_encode_tensor(t) for t in payload.tensors]
        if "outputs" in payload.extra:
            body["outputs"] = payload.extra["outputs"]
        body.update(payload.extra.get("other", {}))
        return body

    def encode_response(self, payload: Payload) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if payload.model_name is not None:
            body["model_name"] = payload.model_name
        if payload.model_version is not None:
            body["model_version"] = payload.model_version
        self._head(body, payload)
        if "error" in payload.extra or (payload.error is not None and not payload.tensors):
            body["error"] = payload.extra.get("error", payload.error)
        if payload.tensors or "error" not in body:
            body["outputs"] = [_encode_tensor(t) for t in payload.tensors]
        body.update(payload.extra.get("other", {}))
        return body

    @staticmethod
    def _message(doc: dict[str, Any], kind: str, tensors: list[Tensor], known: frozenset[str]) -> Payload:
        params = doc.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise CodecError(f"V2 {kind} 'parameters' must be an object, got {type(params).__name__}")
        payload = Payload(
            protocol=V2Codec.name,
            kind=kind,
            tensors=tensors,
            names=[t.name for t in tensors],
            parameters=dict(params or {}),
            id=_opt_str(doc, "id"),
        )
        nulls = [k for k in ("id", "parameters", "model_name", "model_version") if k in doc and doc[k] is None]
        if nulls:
            payload.extra["nulls"] = nulls
        if params == {}:
            payload.extra["empty_parameters"] = True
        other = {k: v for k, v in doc.items() if k not in known}
        if other:
            payload.extra["other"] = other
        return payload

    @staticmethod
    def _head(body: dict[str, Any], payload: Payload) -> None:
        nulls = payload.extra.get("nulls", [])
        for key in nulls:
            body[key] = None
        if payload.id is not None:
            body["id"] = payload.id
        if payload.parameters or payload.extra.get("empty_parameters"):
            body["parameters"] = payload.parameters


# --- building V2 messages from values ------------------------------------------------------------------


def array_tensor(name: str, values: Any, datatype: str | None = None) -> Tensor:
    """A V2 tensor of any array-like ``values``, shaped like them (``[1]`` for a scalar).

    Without ``datatype`` it is the widest of the values' kind (``widest_datatype``: BOOL, INT64, UINT64, FP64,
    else BYTES) and numbers are widened to it, exactly (float32 -> float64...). With one (what a model's metadata
    declares), numbers are written as they are and the receiver converts them. BYTES elements are their ``str``.
    """
    arr = np.asarray(values)
    shape = list(arr.shape) or [1]
    dt = datatype or widest_datatype(arr)
    if dt == BYTES:
        return Tensor(name, BYTES, shape, [str(v) for v in arr.reshape(-1)])
    data = arr.reshape(shape)
    return Tensor(name, dt, shape, data if datatype else data.astype(V2_TO_NUMPY[dt], copy=False))


def request_payload(inputs: list[Tensor], *, outputs: Sequence[str] = (), id: str | None = None) -> Payload:
    """A V2 request of ``inputs``; ``outputs`` names the outputs wanted (the request's ``outputs``, left out when
    empty: the model answers all of them)."""
    payload = Payload(V2Codec.name, REQUEST, inputs, id=id)
    if outputs:
        payload.extra["outputs"] = [{"name": n} for n in outputs]
    return payload


@dataclass(frozen=True)
class TensorMetadata:
    """One of the ``inputs``/``outputs`` of V2 model metadata (``GET /v2/models/NAME``): name, datatype, shape."""

    name: str
    datatype: str
    shape: list[int]

    def to_json(self) -> dict[str, Any]:
        """``{"name", "datatype", "shape"}`` as the V2 metadata endpoint writes it."""
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def metadata_tensors(doc: Any, key: str = "inputs") -> list[TensorMetadata]:
    """The ``inputs`` (or ``outputs``) of a V2 model metadata body, read leniently as model servers write them: a
    missing list is empty, a missing datatype FP64, a missing shape ``[]``; ``CodecError`` if it is not metadata."""
    if not isinstance(doc, dict):
        raise CodecError(f"V2 model metadata must be a JSON object, got {type(doc).__name__}")
    items = doc.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) and "name" in i for i in items):
        raise CodecError(f"V2 model metadata '{key}' must be a list of objects with a name")
    return [TensorMetadata(str(i["name"]), str(i.get("datatype", "FP64")), list(i.get("shape", []))) for i in items]


# --- decoding helpers ----------------------------------------------------------------------------------


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise CodecError(f"V2 body must be a JSON object, got {type(body).__name__}")
    return body


def _opt_str(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CodecError(f"V2 '{key}' must be a string, got {value!r}")
    return value


def _decode_tensors(items: Any, key: str) -> list[Tensor]:
    if not isinstance(items, list):
        raise CodecError(f"V2 '{key}' must be a list, got {type(items).__name__}")
    tensors = [_decode_tensor(item, f"{key}[{i}]") for i, item in enumerate(items)]
    limits.check_total(sum(size_of(t.shape) for t in tensors), f"V2 '{key}'")
    return tensors


def _decode_tensor(item: Any, where: str) -> Tensor:
    if not isinstance(item, dict):
        raise CodecError(f"{where} must be an object, got {type(item).__name__}")
    missing = [k for k in ("name", "shape", "datatype", "data") if k not in item]
    if missing:
        raise CodecError(f"{where} lacks {', '.join(missing)}")
    name, datatype = item["name"], item["datatype"]
    if not isinstance(name, str):
        raise CodecError(f"{where}: name must be a string")
    where = f"{where} ({name!r})"
    if datatype not in DATATYPES:
        raise CodecError(f"{where}: unknown datatype {datatype!r}; known: {', '.join(DATATYPES)}")
    shape = check_shape(item["shape"], where)
    limits.element_count(shape, where)
    params = item.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise CodecError(f"{where}: parameters must be an object")
    tensor = Tensor(name=name, datatype=datatype, shape=shape, data=[], parameters=dict(params or {}))
    if params == {}:
        tensor.extra["empty_parameters"] = True
    elif "parameters" in item and params is None:
        tensor.extra["null_parameters"] = True
    other = {k: v for k, v in item.items() if k not in _TENSOR_KEYS}
    if other:
        tensor.extra["other"] = other
    data = item["data"]
    if datatype == BYTES:
        _decode_bytes(tensor, data, where)
    else:
        _decode_numeric(tensor, data, where)
    return tensor


def _decode_numeric(tensor: Tensor, data: Any, where: str) -> None:
    arr = numeric_array(data, tensor.datatype, f"{where} {tensor.datatype}")
    expected = size_of(tensor.shape)
    if arr.size != expected:
        raise _count_error(where, tensor, arr.size)
    if arr.ndim != 1:
        tensor.extra["data_shape"] = list(arr.shape)
    tensor.data = arr.reshape(tensor.shape)


def _decode_bytes(tensor: Tensor, data: Any, where: str) -> None:
    data_shape, flat = object_shape(data)
    if size_of(tensor.shape) != len(flat):
        raise _count_error(where, tensor, len(flat))
    if len(data_shape) != 1:
        tensor.extra["data_shape"] = data_shape
    if tensor.parameters.get("content_type") == BASE64:
        flat = [_b64_element(v) for v in flat]
    tensor.data = flat


def _count_error(where: str, tensor: Tensor, sent: int) -> InvalidTensor:
    expected = size_of(tensor.shape)
    return InvalidTensor(
        f"{where}: shape {tensor.shape} needs {expected} values, data has {sent}",
        details={"where": where, "shape": tensor.shape, "declared": expected, "sent": sent},
    )


def _b64_element(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value
    return raw if base64.b64encode(raw).decode("ascii") == value else value


def _encode_tensor(t: Tensor) -> dict[str, Any]:
    out: dict[str, Any] = {"name": t.name, "shape": list(t.shape), "datatype": t.datatype}
    if t.parameters or t.extra.get("empty_parameters"):
        out["parameters"] = t.parameters
    elif t.extra.get("null_parameters"):
        out["parameters"] = None
    data_shape = t.extra.get("data_shape")
    if isinstance(t.data, np.ndarray):
        arr = t.data.reshape(data_shape if data_shape is not None else -1)
        out["data"] = to_lists(arr)
    else:
        flat = [_encode_element(v, t) for v in t.data]
        out["data"] = nest(flat, data_shape) if data_shape is not None else flat
    out.update(t.extra.get("other", {}))
    return out


def _encode_element(value: Any, t: Tensor) -> Any:
    if not isinstance(value, bytes | bytearray):
        return value
    if t.parameters.get("content_type") == BASE64:
        return base64.b64encode(value).decode("ascii")
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError as e:
        raise CodecError(f"tensor {t.name!r}: BYTES element is not UTF-8; set parameters.content_type='base64'") from e
