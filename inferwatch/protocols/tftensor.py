"""TensorFlow ``TensorProto`` in its protobuf-JSON form (Seldon's ``data.tftensor``), without TensorFlow.

Both spellings are read: ``json_format.MessageToJson`` (camelCase, int64 as strings, the default Seldon
writes) and the snake_case one some Seldon components use (``float_val``, ``tensor_shape``). Values come
either as ``tensorContent`` (base64 little-endian buffer, what ``tf.make_tensor_proto`` writes for more
than one element) or as a typed value list holding every value: a shorter list, which ``tf.make_ndarray`` would
pad with its last value, is refused (``InvalidTensor``): a few bytes could otherwise declare millions of values.
Every value must fit the dtype (``datatypes.fit``). A value list in which redaction masked values
(``datatypes.REDACTED`` in place of a value) decodes as a ``BYTES`` tensor of the values and masks
(``extra["tf_dtype"]`` keeps the declared dtype).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from inferwatch.errors import CodecError, InvalidTensor
from inferwatch.protocols import limits
from inferwatch.protocols.datatypes import BYTES, REDACTED, V2_TO_NUMPY, fit, size_of, to_lists
from inferwatch.protocols.payload import Tensor

# TF DataType name -> (enum number, V2 datatype, value field in camelCase)
TF_DTYPES: dict[str, tuple[int, str, str]] = {
    "DT_FLOAT": (1, "FP32", "floatVal"),
    "DT_DOUBLE": (2, "FP64", "doubleVal"),
    "DT_INT32": (3, "INT32", "intVal"),
    "DT_UINT8": (4, "UINT8", "intVal"),
    "DT_INT16": (5, "INT16", "intVal"),
    "DT_INT8": (6, "INT8", "intVal"),
    "DT_STRING": (7, BYTES, "stringVal"),
    "DT_INT64": (9, "INT64", "int64Val"),
    "DT_BOOL": (10, "BOOL", "boolVal"),
    "DT_UINT16": (17, "UINT16", "intVal"),
    "DT_HALF": (19, "FP16", "halfVal"),
    "DT_UINT32": (22, "UINT32", "uint32Val"),
    "DT_UINT64": (23, "UINT64", "uint64Val"),
}
_BY_NUMBER = {num: name for name, (num, _, _) in TF_DTYPES.items()}
_BY_DATATYPE = {dt: name for name, (_, dt, _) in TF_DTYPES.items()}
_STRING_INTS = frozenset({"int64Val", "uint64Val"})  # protobuf JSON writes 64-bit ints as strings
_CAMEL = {
    "tensor_shape": "tensorShape",
    "tensor_content": "tensorContent",
    "version_number": "versionNumber",
    "float_val": "floatVal",
    "double_val": "doubleVal",
    "int_val": "intVal",
    "int64_val": "int64Val",
    "uint32_val": "uint32Val",
    "uint64_val": "uint64Val",
    "bool_val": "boolVal",
    "half_val": "halfVal",
    "string_val": "stringVal",
}
_SNAKE = {v: k for k, v in _CAMEL.items()}
_KNOWN = frozenset({"dtype", *_SNAKE})


def decode(doc: Any, name: str = "data") -> Tensor:
    """A ``TensorProto`` JSON object as a tensor; layout hints go to ``Tensor.extra``."""
    if not isinstance(doc, dict):
        raise CodecError(f"tftensor must be an object, got {type(doc).__name__}")
    snake = any(k in _CAMEL for k in doc)
    d = {_CAMEL.get(k, k): v for k, v in doc.items()}
    extra: dict[str, Any] = {}
    if snake:
        extra["tf_snake"] = True
    dtype_name = _dtype_name(d.get("dtype"))
    if isinstance(d.get("dtype"), int):
        extra["tf_dtype_number"] = True
    _, datatype, field = TF_DTYPES[dtype_name]
    shape, int_dims = _shape(d.get("tensorShape"))
    if "tensorShape" not in d:
        extra["tf_no_shape"] = True
    if int_dims:
        extra["tf_int_dims"] = True
    other = {k: v for k, v in doc.items() if _CAMEL.get(k, k) not in _KNOWN}
    if other:
        extra["tf_other"] = other
    n = limits.element_count(shape, "tftensor")
    if "tensorContent" in d:
        data = _from_content(d["tensorContent"], datatype, shape)
        if n <= 1 or datatype == BYTES:
            extra["tf_values"] = "tensorContent"
    else:
        values = d.get(field, [])
        if not isinstance(values, list):
            raise CodecError(f"tftensor {field} must be a list")
        if n > 1 and datatype != BYTES:
            extra["tf_values"] = field
        if len(values) != n:
            raise InvalidTensor(
                f"tftensor {dtype_name}: shape {shape} declares {n} values, {field} has {len(values)} "
                "(send every value, or tensorContent)",
                details={"where": f"tftensor {field}", "shape": shape, "declared": n, "sent": len(values)},
            )
        if datatype != BYTES and REDACTED in values:
            extra["tf_dtype"] = dtype_name
            return Tensor(name, BYTES, shape, _redacted_values(values, field, datatype, n), extra=extra)
        data = _from_values(values, field, datatype, n, shape)
    return Tensor(name=name, datatype=datatype, shape=shape, data=data, extra=extra)


def encode(t: Tensor) -> dict[str, Any]:
    """The inverse of ``decode``: TF's own choice of value field unless the tensor says otherwise."""
    dtype_name = t.extra.get("tf_dtype") or _BY_DATATYPE.get(t.datatype)
    if dtype_name is None:
        raise CodecError(f"datatype {t.datatype} has no TensorFlow equivalent")
    number, _, field = TF_DTYPES[dtype_name]
    n = size_of(t.shape)
    dims = [{"size": d if t.extra.get("tf_int_dims") else str(d)} for d in t.shape]
    out: dict[str, Any] = {"dtype": number if t.extra.get("tf_dtype_number") else dtype_name}
    if not t.extra.get("tf_no_shape"):
        out["tensorShape"] = {"dim": dims} if dims else {}
    mode = t.extra.get("tf_values") or ("tensorContent" if n > 1 and t.datatype != BYTES else field)
    if mode == "tensorContent":
        if not isinstance(t.data, np.ndarray):
            raise CodecError("tensorContent needs a numeric tensor")
        out["tensorContent"] = base64.b64encode(t.data.astype(t.data.dtype.newbyteorder("<")).tobytes()).decode()
    else:
        values = _to_values(t, field)
        if values:
            out[field] = values
    out.update(t.extra.get("tf_other", {}))
    if t.extra.get("tf_snake"):
        out = {_SNAKE.get(k, k): v for k, v in out.items()}
    return out


def as_value_list(doc: Any) -> tuple[dict[str, Any], str, list[int]]:
    """``doc`` rewritten with every value in its typed list (no ``tensorContent``, no shortened list), the key of
    that list in it (in ``doc``'s spelling) and the tensor's shape: what redaction masks values in."""
    t = decode(doc)
    field = TF_DTYPES[t.extra.get("tf_dtype") or _BY_DATATYPE[t.datatype]][2]
    t.extra["tf_values"] = field
    return encode(t), _SNAKE[field] if t.extra.get("tf_snake") else field, t.shape


def _dtype_name(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = _BY_NUMBER.get(value, value)
    if value not in TF_DTYPES:
        raise CodecError(f"tftensor dtype {value!r} is not supported; known: {', '.join(TF_DTYPES)}")
    return str(value)


def _shape(doc: Any) -> tuple[list[int], bool]:
    if doc is None:
        return [], False
    if not isinstance(doc, dict) or not isinstance(doc.get("dim", []), list):
        raise CodecError("tftensor tensorShape must be an object with a 'dim' list")
    shape: list[int] = []
    int_dims = False
    for dim in doc.get("dim", []):
        size = dim.get("size", 0) if isinstance(dim, dict) else None
        int_dims = int_dims or isinstance(size, int)
        try:
            shape.append(int(size))  # type: ignore[arg-type]
        except (TypeError, ValueError) as e:
            raise CodecError(f"tftensor dim size {size!r} is not an integer") from e
        if shape[-1] < 0:
            raise CodecError(f"tftensor dim size {size!r} is negative")
    return shape, int_dims


def _from_content(content: Any, datatype: str, shape: list[int]) -> np.ndarray[Any, Any]:
    if datatype == BYTES:
        raise CodecError("tftensor DT_STRING cannot use tensorContent")
    try:
        buf = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError, TypeError) as e:
        raise CodecError("tftensor tensorContent is not valid base64") from e
    dtype = V2_TO_NUMPY[datatype].newbyteorder("<")
    if len(buf) != size_of(shape) * dtype.itemsize:
        raise CodecError(
            f"tftensor tensorContent has {len(buf)} bytes, shape {shape} needs {size_of(shape) * dtype.itemsize}"
        )
    return np.frombuffer(buf, dtype=dtype).astype(V2_TO_NUMPY[datatype]).reshape(shape)


def _from_values(values: list[Any], field: str, datatype: str, n: int, shape: list[int]) -> Any:
    if datatype == BYTES:
        try:
            flat = [v if v == REDACTED else base64.b64decode(v, validate=True) for v in values]
        except (binascii.Error, ValueError, TypeError) as e:
            raise CodecError("tftensor stringVal elements must be base64") from e
        return flat
    where = f"tftensor {field} {datatype}"
    try:
        if field == "halfVal":
            arr = fit(np.asarray(values), "UINT16", where).view(np.float16)
        elif field in ("floatVal", "doubleVal"):
            arr = fit(np.asarray([float(v) for v in values]), datatype, where)
        else:
            arr = fit(np.asarray([int(v) for v in values] if field in _STRING_INTS else values), datatype, where)
    except (ValueError, TypeError, OverflowError) as e:
        raise CodecError(f"tftensor {field} is not a valid {datatype} list: {e}") from e
    return arr.reshape(shape)


def _redacted_values(values: list[Any], field: str, datatype: str, n: int) -> list[Any]:
    """A numeric value list with masked values: each other value decoded alone, padded as ``_from_values`` pads."""
    return [v if v == REDACTED else _from_values([v], field, datatype, 1, [1]).tolist()[0] for v in values]


def _to_values(t: Tensor, field: str) -> list[Any]:
    if "tf_dtype" in t.extra:  # masked by redaction: numbers and masks (see ``_redacted_values``)
        dtype = V2_TO_NUMPY[TF_DTYPES[t.extra["tf_dtype"]][1]]
        return [v if v == REDACTED else _numbers(np.asarray([v], dtype), field)[0] for v in t.data]
    if t.datatype == BYTES:
        return [
            v if v == REDACTED else base64.b64encode(v if isinstance(v, bytes) else str(v).encode()).decode()
            for v in t.data
        ]
    if not isinstance(t.data, np.ndarray):
        raise CodecError(f"tensor {t.name!r} has no numeric data")
    return _numbers(t.data.reshape(-1), field)


def _numbers(flat: np.ndarray[Any, Any], field: str) -> list[Any]:
    if field == "halfVal":
        return [int(v) for v in flat.view(np.uint16)]
    if field in _STRING_INTS:
        return [str(v) for v in flat.tolist()]
    values: list[Any] = to_lists(flat)
    return values
