"""The one datatype table (V2 datatype <-> numpy dtype) and the array <-> JSON conversions every codec uses.

Numeric arrays go to JSON through orjson's numpy support: vectorised, float32 written in its shortest
form (``0.1`` stays ``0.1``) and NaN/Infinity written as ``null`` — the same as MLServer, which
replaces NaN by ``null`` in V2 outputs. FP16 is written through numpy's shortest float16 repr.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson

from inferwatch.errors import CodecError, InvalidTensor

BYTES = "BYTES"
REDACTED = "[REDACTED]"
"""What redaction (``inferwatch.redact``) writes in place of a masked value. The Seldon ``tensor`` and
``tftensor`` codecs accept it in place of a number (such a tensor decodes as ``BYTES``), so a masked body still
decodes; V2 and KServe v1 need no exception (a masked V2 tensor becomes ``BYTES``, KServe v1 values are untyped)."""

#: Canonical V2 datatype -> numpy dtype. ``BYTES`` has no numpy dtype: its data is a Python list.
V2_TO_NUMPY: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
}
NUMPY_TO_V2: dict[np.dtype[Any], str] = {dtype: name for name, dtype in V2_TO_NUMPY.items()}
DATATYPES: tuple[str, ...] = (*V2_TO_NUMPY, BYTES)
#: numpy kind -> the widest V2 datatype of that kind (the label of values whose exact width does not matter)
WIDEST_BY_KIND: dict[str, str] = {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64"}
_OBJECT_KINDS = frozenset("OUS")
_NUMERIC_KINDS = frozenset("biuf")


def datatype_of(array: np.ndarray[Any, Any]) -> str:
    """The V2 datatype of a numpy array (strings and objects are ``BYTES``)."""
    name = NUMPY_TO_V2.get(array.dtype)
    if name is not None:
        return name
    if array.dtype.kind in _OBJECT_KINDS:
        return BYTES
    raise CodecError(f"numpy dtype {array.dtype} has no V2 datatype; known: {', '.join(DATATYPES)}")


def datatype_for(dtype: Any, default: str = "FP64") -> str:
    """The V2 datatype of a numpy dtype or scalar type (``np.float32``...); ``default`` for ``None`` or a dtype
    the table has no name for."""
    if dtype is None:
        return default
    try:
        return NUMPY_TO_V2.get(np.dtype(dtype), default)
    except TypeError:
        return default


def widest_datatype(array: np.ndarray[Any, Any]) -> str:
    """The widest V2 datatype of the array's kind (``WIDEST_BY_KIND``: BOOL, INT64, UINT64, FP64); ``BYTES`` for
    every other kind (strings, objects, dates...)."""
    return WIDEST_BY_KIND.get(array.dtype.kind, BYTES)


def numeric_array(values: Any, datatype: str, where: str = "data") -> np.ndarray[Any, Any]:
    """``values`` (flat or nested JSON list) as an array of ``datatype``; ``null`` is NaN for floats.

    Every value must fit the datatype (``fit``): ``InvalidTensor`` (422) names ``where`` and the datatype otherwise;
    a ragged list is one too."""
    if datatype not in V2_TO_NUMPY:
        raise CodecError(f"unknown datatype {datatype!r}; known: {', '.join(DATATYPES)}")
    try:
        arr = np.asarray(values)
        if V2_TO_NUMPY[datatype].kind in "iu" and arr.dtype.kind in "fO":  # mixed, or past int64: exact ints
            return _exact_ints(np.asarray(values, dtype=object), datatype, where)
    except (ValueError, TypeError, OverflowError) as e:
        raise InvalidTensor(f"{where}: data is not a rectangular {datatype} array: {e}") from e
    return fit(arr, datatype, where)


def _exact_ints(arr: np.ndarray[Any, Any], datatype: str, where: str) -> np.ndarray[Any, Any]:
    """Python values checked one by one (numpy would infer float64 for ``[2**63, 1]`` and lose digits)."""
    info = np.iinfo(V2_TO_NUMPY[datatype])
    flat = arr.ravel().tolist()
    for v in flat:
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise _misfit(where, datatype, np.asarray([v], dtype=object), "is not a whole number")
        if not info.min <= v <= info.max:
            raise _misfit(
                where,
                datatype,
                np.asarray([v], dtype=object),
                f"is outside {datatype}'s range [{info.min}, {info.max}]",
            )
    return np.asarray([int(v) for v in flat], dtype=V2_TO_NUMPY[datatype]).reshape(arr.shape)


def fit(arr: np.ndarray[Any, Any], datatype: str, where: str) -> np.ndarray[Any, Any]:
    """``arr`` (as parsed, any dtype) converted to ``datatype`` if every value fits it, else ``InvalidTensor``: BOOL
    takes booleans (or 0/1), integers take whole numbers within the type's range, floats take numbers that stay
    finite in the type (NaN, from ``null``, is kept); no silent wrap-around, truncation or overflow to infinity."""
    target = V2_TO_NUMPY[datatype]
    if arr.dtype == target:  # already of the type (binary data, int64 JSON for INT64...): nothing can misfit
        return arr
    if arr.size == 0:
        return arr.astype(target)
    kind = arr.dtype.kind
    if kind == "O":
        arr, kind = _from_objects(arr, datatype, where), "f"
    if kind not in "biuf":
        raise InvalidTensor(f"{where}: {datatype} data must be numbers, got {arr.dtype} values", details=_at(where))
    if target.kind == "b":
        if kind != "b" and not np.isin(arr, (0, 1)).all():
            raise _misfit(where, datatype, arr[~np.isin(arr, (0, 1))], "is not a boolean (true/false, 0/1)")
    elif target.kind in "iu":
        if kind == "b":
            raise InvalidTensor(f"{where}: {datatype} data must be integers, got booleans", details=_at(where))
        if kind == "f":
            whole = np.isfinite(arr) & (arr == np.floor(arr))
            if not whole.all():
                raise _misfit(where, datatype, arr[~whole], "is not a whole number")
        info = np.iinfo(target)
        outside = (arr < info.min) | (arr > info.max)
        if outside.any():
            raise _misfit(where, datatype, arr[outside], f"is outside {datatype}'s range [{info.min}, {info.max}]")
    else:
        if kind == "b":
            raise InvalidTensor(f"{where}: {datatype} data must be numbers, got booleans", details=_at(where))
        with np.errstate(over="ignore"):
            out = arr.astype(target)
        overflow = np.isinf(out) & np.isfinite(arr)
        if overflow.any():
            limit = float(np.finfo(target).max)
            raise _misfit(where, datatype, arr[overflow], f"overflows {datatype} (largest finite value {limit:g})")
        return out
    return arr.astype(target)


def _from_objects(arr: np.ndarray[Any, Any], datatype: str, where: str) -> np.ndarray[Any, Any]:
    """An object array (``null`` among numbers, integers past 64 bits) as float64 for the range checks."""
    if datatype not in ("FP16", "FP32", "FP64") and any(v is None for v in arr.ravel()):
        raise InvalidTensor(f"{where}: {datatype} data holds null (only float datatypes take null)", details=_at(where))
    try:
        return arr.astype(np.float64)
    except (ValueError, TypeError, OverflowError) as e:
        raise InvalidTensor(f"{where}: {datatype} data must be numbers: {e}", details=_at(where)) from e


def _misfit(where: str, datatype: str, bad: np.ndarray[Any, Any], why: str) -> InvalidTensor:
    value = bad.ravel()[0]
    value = value.item() if isinstance(value, np.generic) else value
    shown = int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2**63 else value
    return InvalidTensor(
        f"{where}: value {shown!r} {why} ({bad.size} such value(s))",
        details={"where": where, "datatype": datatype, "value": repr(shown)},
    )


def _at(where: str) -> dict[str, Any]:
    return {"where": where}


def sniff_array(values: Any) -> np.ndarray[Any, Any] | None:
    """``values`` as a numeric/bool numpy array when it is a rectangular list of numbers, else ``None``."""
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError, OverflowError):
        return None
    if arr.dtype.kind in _NUMERIC_KINDS and arr.dtype in NUMPY_TO_V2:
        return arr
    return None


def object_shape(values: Any) -> tuple[list[int], list[Any]]:
    """Shape and row-major flat list of a nested JSON list of arbitrary values (strings, dicts, ragged...).

    The shape stops where nesting stops being rectangular; deeper lists stay elements of the flat list.
    """
    if not isinstance(values, list):
        return [], [values]
    try:
        arr = np.array(values, dtype=object)
    except ValueError:  # inhomogeneous below the first level
        return [len(values)], list(values)
    return list(arr.shape), arr.ravel().tolist()


def nest(flat: list[Any], shape: list[int]) -> Any:
    """Rebuild nested lists of ``shape`` from a row-major flat list (the inverse of ``object_shape``)."""
    if not shape:
        return flat[0] if flat else None
    if len(shape) == 1:
        return list(flat)
    step = 1
    for dim in shape[1:]:
        step *= dim
    return [nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def to_lists(array: np.ndarray[Any, Any]) -> Any:
    """A numeric array as JSON-able nested lists (NaN/Infinity -> ``None``), float32/16 in shortest form."""
    if array.dtype == np.float16:
        as_text = array.astype(str).astype(np.float64)
        out: Any = orjson.loads(orjson.dumps(np.ascontiguousarray(as_text), option=orjson.OPT_SERIALIZE_NUMPY))
        return out
    if array.ndim == 0:
        return orjson.loads(orjson.dumps(array.item()))
    return orjson.loads(orjson.dumps(np.ascontiguousarray(array), option=orjson.OPT_SERIALIZE_NUMPY))


def element_json(value: Any) -> Any:
    """One BYTES element in a JSON-able form: bytes become base64 text."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    return value


def size_of(shape: list[int]) -> int:
    n = 1
    for dim in shape:
        n *= dim
    return n


def check_shape(shape: Any, where: str) -> list[int]:
    """``shape`` validated as a list of non-negative ints."""
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise CodecError(f"{where}: shape must be a list of integers, got {shape!r}")
    if any(d < 0 for d in shape):
        raise CodecError(f"{where}: shape {shape} has a negative dimension")
    return list(shape)
