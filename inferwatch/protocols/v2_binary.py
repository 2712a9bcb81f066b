"""The Open Inference (V2) protocol's binary tensor data extension, as KServe and Triton define it.

A body sent with ``Inference-Header-Content-Length: N`` starts with an ``N``-byte JSON inference header; every
input (or output) whose ``parameters`` hold ``binary_data_size`` has no ``data`` in the header: its data are the
next ``binary_data_size`` bytes after it, in the order of the tensors. Numeric tensors are raw little-endian
row-major values (``BOOL`` one byte each), ``BYTES`` tensors a 4-byte little-endian length before each element.
No JSON text for the numbers: a 1,000 x 10 float batch is 40 KB to copy instead of ~200 KB to parse.

``parse_binary`` turns such a body into the same JSON document a plain V2 body parses to (``data`` filled in),
so the V2 codec decodes both alike.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

from inferwatch.errors import CodecError, InvalidTensor
from inferwatch.protocols.datatypes import BYTES, V2_TO_NUMPY

HEADER_LENGTH = "inference-header-content-length"
"""HTTP header with the length of the JSON inference header at the start of a binary body."""
BINARY_DATA_SIZE = "binary_data_size"
"""Tensor parameter: how many bytes of the binary part hold this tensor's data."""
_LEN = struct.Struct("<I")


INVALID_LENGTH = -1
"""What a captured body's ``header_length`` holds when the header was present but not a byte count (the logger
still records the exchange; decoding it reports ``invalid_length_error``)."""
_MAX_DIGITS = 18  # below 2**63: longer is no byte count any body has


def valid_length(value: str) -> int | None:
    """``value`` as a byte count if it is one: 1 to 18 ASCII digits, nothing else (no sign, space, ``_``, ``²``)."""
    if not 0 < len(value) <= _MAX_DIGITS or not value.isascii() or not value.isdigit():
        return None
    return int(value)


def header_length(value: str | None, body_size: int | None = None) -> int | None:
    """The ``Inference-Header-Content-Length`` header's value (``None`` when absent); a value that is not ASCII
    digits, or (with ``body_size``) exceeds the body, is a 400 naming the header."""
    if value is None:
        return None
    n = valid_length(value)
    if n is None:
        raise CodecError(invalid_length_error(value), details={"header": "Inference-Header-Content-Length"})
    if body_size is not None and n > body_size:
        raise CodecError(
            f"Inference-Header-Content-Length is {n} but the body has only {body_size} bytes",
            details={"header": "Inference-Header-Content-Length"},
        )
    return n


def invalid_length_error(value: str | None = None) -> str:
    shown = "" if value is None else f", got {value[:40]!r}" + ("..." if len(value) > 40 else "")
    return f"Inference-Header-Content-Length must be a byte count in ASCII digits{shown}"


def parse_binary(raw: bytes, length: int) -> dict[str, Any]:
    """The V2 document of a binary-extension body: the JSON header with each binary tensor's ``data`` filled in."""
    if length < 0:
        raise CodecError(invalid_length_error())
    if length > len(raw):
        raise CodecError(f"Inference-Header-Content-Length is {length} but the body has only {len(raw)} bytes")
    try:
        doc = orjson.loads(raw[:length])
    except orjson.JSONDecodeError as e:
        raise CodecError(f"the inference header (the first {length} bytes) is not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise CodecError(f"the inference header must be a JSON object, got {type(doc).__name__}")
    view = memoryview(raw)
    offset = length
    for key in ("inputs", "outputs"):
        items = doc.get(key)
        for i, item in enumerate(items if isinstance(items, list) else []):
            params = item.get("parameters") if isinstance(item, dict) else None
            if not isinstance(params, dict) or BINARY_DATA_SIZE not in params:
                continue
            where = f"{key}[{i}] ({item.get('name')!r})"
            size = params[BINARY_DATA_SIZE]
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise CodecError(f"{where}: binary_data_size must be a byte count, got {size!r}")
            if offset + size > len(raw):
                raise CodecError(f"{where}: binary_data_size {size} runs past the end of the body")
            item["data"] = raw_elements(view[offset : offset + size], item.get("datatype"), where)
            offset += size
    if offset != len(raw):
        raise CodecError(f"{len(raw) - offset} bytes after the last binary tensor: check each binary_data_size")
    return doc


def raw_elements(chunk: memoryview, datatype: Any, where: str) -> Any:
    """The elements of one tensor's raw bytes: a native-order numpy array of ``datatype`` (little-endian on the
    wire, ``BOOL`` bytes 0 or 1), or for ``BYTES`` a list of ``bytes`` (each after a 4-byte little-endian length).
    The binary extension and the gRPC ``raw_*_contents`` (``inferwatch.protocols.v2_proto``) share this layout.
    ``CodecError`` names ``where`` when the bytes do not split into whole elements."""
    if datatype == BYTES:
        return _bytes_elements(chunk, where)
    dtype = V2_TO_NUMPY.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise CodecError(f"{where}: unknown datatype {datatype!r} for binary data")
    if len(chunk) % dtype.itemsize:
        raise CodecError(f"{where}: {len(chunk)} bytes is not a whole number of {datatype} values")
    if datatype == "BOOL" and len(chunk) and np.frombuffer(chunk, np.uint8).max() > 1:
        raise InvalidTensor(f"{where} BOOL: binary values must be bytes 0 or 1", details={"where": where})
    return np.frombuffer(chunk, dtype=dtype.newbyteorder("<")).astype(dtype)  # a writable native-order copy


def _bytes_elements(chunk: memoryview, where: str) -> list[bytes]:
    out: list[bytes] = []
    pos = 0
    while pos < len(chunk):
        if pos + _LEN.size > len(chunk):
            raise CodecError(f"{where}: a BYTES element's 4-byte length is cut off")
        (n,) = _LEN.unpack_from(chunk, pos)
        pos += _LEN.size
        if pos + n > len(chunk):
            raise CodecError(f"{where}: a BYTES element of {n} bytes runs past the end of the tensor's data")
        out.append(bytes(chunk[pos : pos + n]))
        pos += n
    return out


def encode_binary(doc: dict[str, Any], tensors: dict[str, np.ndarray[Any, Any]]) -> tuple[bytes, int]:
    """A binary-extension body for ``doc`` (a V2 request without ``data`` for the named ``tensors``): the body
    and the value of ``Inference-Header-Content-Length``. Clients (benchmarks, tests) use it; numeric only."""
    parts: list[bytes] = []
    for item in doc.get("inputs", []):
        arr = tensors.get(item["name"])
        if arr is None:
            continue
        data = np.ascontiguousarray(arr, dtype=V2_TO_NUMPY[item["datatype"]].newbyteorder("<")).tobytes()
        item.setdefault("parameters", {})[BINARY_DATA_SIZE] = len(data)
        item.pop("data", None)
        parts.append(data)
    head = orjson.dumps(doc)
    return b"".join((head, *parts)), len(head)
