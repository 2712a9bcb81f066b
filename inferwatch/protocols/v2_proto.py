"""Open Inference Protocol (V2) gRPC messages — what Seldon Core v2 writes to its Kafka topics — as V2 JSON.

``<prefix>.<namespace>.model.<model>.inputs`` hold serialized ``inference.ModelInferRequest`` messages and
``.outputs`` ``inference.ModelInferResponse`` (the official classes, ``inferwatch.protocols.oip``), sometimes
behind Confluent schema-registry framing (``strip_framing``). ``request_to_json`` / ``response_to_json`` turn one
into the V2 JSON document of the REST protocol, which the V2 codec (``V2Codec``, ``decode_body``) then decodes and
checks like any V2 body: value counts against shapes (``InvalidTensor``), datatype ranges, ``--max-elements``.

- Each tensor's data is the typed field of ``contents`` that its datatype uses (``int_contents`` for INT8/16/32,
  ``uint_contents`` for UINT8/16/32, ``fp32_contents``...), or the same-index entry of ``raw_input_contents`` /
  ``raw_output_contents``, decoded as the binary tensor data extension's bytes (``v2_binary.raw_elements``: the
  only form FP16 has). Data are flat row-major lists; floats are written as ``to_lists`` writes them (float32 in
  its shortest form, NaN and infinities as ``null``, as MLServer does).
- BYTES elements are ``str`` when they are UTF-8, else ``bytes`` (as the binary extension leaves them).
- ``InferParameter`` values are plain JSON values; a parameter with no value set is ``null``.
- Proto3 cannot tell an empty string from an absent one: an empty ``id`` or ``model_version`` is left out. A
  request's ``model_name``/``model_version`` have no place in a V2 REST body (the model is in the URL, here in the
  topic name) and are left out.

Bytes that are not the expected message raise ``InvalidProtobuf`` (a ``CodecError``): protobuf's parse error, or
top-level fields the Open Inference Protocol does not define (random bytes often parse as a few unknown fields).
An empty ``contents`` beside raw contents (MLServer writes one per tensor) counts as no contents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from google.protobuf import unknown_fields
from google.protobuf.message import DecodeError, Message

from inferwatch.errors import CodecError, InvalidProtobuf
from inferwatch.protocols.datatypes import BYTES, DATATYPES, V2_TO_NUMPY, to_lists
from inferwatch.protocols.oip import open_inference_grpc_pb2 as pb
from inferwatch.protocols.v2_binary import raw_elements

#: V2 datatype -> the ``InferTensorContents`` field that holds its typed values (FP16 has none: raw only)
CONTENTS_FIELD: dict[str, str] = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    BYTES: "bytes_contents",
}
#: the numpy dtype of each typed contents field (the datatype's own width is checked by the V2 codec's ``fit``)
_TYPED_DTYPE: dict[str, np.dtype[Any]] = {
    "bool_contents": V2_TO_NUMPY["BOOL"],
    "int_contents": V2_TO_NUMPY["INT32"],
    "int64_contents": V2_TO_NUMPY["INT64"],
    "uint_contents": V2_TO_NUMPY["UINT32"],
    "uint64_contents": V2_TO_NUMPY["UINT64"],
    "fp32_contents": V2_TO_NUMPY["FP32"],
    "fp64_contents": V2_TO_NUMPY["FP64"],
}
#: Confluent schema-registry framing: magic byte -> bytes of schema reference after it (4-byte id, 16-byte GUID)
_MAGIC = {0: 4, 1: 16}
_MAX_INDEXES = 100_000  # Confluent's own deserializer refuses longer message-index arrays


def request_to_json(data: bytes) -> dict[str, Any]:
    """The V2 JSON request (``id``, ``parameters``, ``inputs``, ``outputs``) of a serialized ``ModelInferRequest``.

    ``InvalidProtobuf`` if ``data`` is not one; ``CodecError`` if its tensors' contents contradict the protocol
    (a field that is not the datatype's, raw contents not one per input, raw bytes not whole elements).
    """
    msg = _parse(pb.ModelInferRequest(), data)
    doc: dict[str, Any] = {}
    if msg.id:
        doc["id"] = msg.id
    _put_parameters(doc, msg.parameters)
    doc["inputs"] = _tensors(msg.inputs, msg.raw_input_contents, "inputs", "raw_input_contents")
    if msg.outputs:
        doc["outputs"] = [_put_parameters({"name": out.name}, out.parameters) for out in msg.outputs]
    return doc


def response_to_json(data: bytes) -> dict[str, Any]:
    """The V2 JSON response (``model_name``, ``model_version``, ``id``, ``parameters``, ``outputs``) of a serialized
    ``ModelInferResponse``; errors as ``request_to_json``'s."""
    msg = _parse(pb.ModelInferResponse(), data)
    doc: dict[str, Any] = {"model_name": msg.model_name}
    if msg.model_version:
        doc["model_version"] = msg.model_version
    if msg.id:
        doc["id"] = msg.id
    _put_parameters(doc, msg.parameters)
    doc["outputs"] = _tensors(msg.outputs, msg.raw_output_contents, "outputs", "raw_output_contents")
    return doc


def strip_framing(value: bytes) -> bytes:
    """``value`` without Confluent schema-registry framing, or ``value`` itself when it has none.

    The framing is a magic byte — 0 followed by the 4-byte big-endian schema id, or 1 followed by a 16-byte schema
    GUID (confluent-kafka's newer form) — then, for Protobuf, the message-index array: zigzag varints, a count then
    that many indexes, where a count of 0 (a single 0 byte) stands for ``[0]``, the file's first message.

    A serialized protobuf message never starts with byte 0 or 1: its first byte begins a field's tag varint,
    ``field_number << 3 | wire_type`` with field numbers from 1, so the tag is at least 8 and its first byte is
    either at least 8 or, for a tag of 128 or more, has the continuation bit 0x80 set. An empty message is zero
    bytes. So a leading 0 or 1 can only be framing, and JSON (``{``) is never mistaken for it.
    ``InvalidProtobuf`` when the framing is cut off or its index array is not one.
    """
    if not value or value[0] not in _MAGIC:
        return value
    pos = 1 + _MAGIC[value[0]]
    if len(value) < pos:
        raise _framing_error(value, f"the {pos}-byte header is cut off")
    count, pos = _zigzag(value, pos)
    if not 0 <= count <= _MAX_INDEXES:
        raise _framing_error(value, f"message-index count {count} is not one")
    for _ in range(count):
        _, pos = _zigzag(value, pos)
    return value[pos:]


def _zigzag(value: bytes, pos: int) -> tuple[int, int]:
    """The zigzag varint at ``pos`` and the position after it."""
    raw = shift = 0
    while True:
        if pos >= len(value) or shift > 63:
            raise _framing_error(value, "a message-index varint is cut off")
        byte = value[pos]
        raw |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return (raw >> 1) ^ -(raw & 1), pos


def _framing_error(value: bytes, why: str) -> InvalidProtobuf:
    return InvalidProtobuf(
        f"Confluent schema-registry framing: {why} ({len(value)} bytes)",
        details={"framing": "confluent", "bytes": len(value)},
    )


def _parse(msg: Message, data: bytes) -> Any:
    name = msg.DESCRIPTOR.name
    details = {"message": msg.DESCRIPTOR.full_name, "bytes": len(data)}
    try:
        msg.ParseFromString(data)
    except DecodeError as e:
        hint = " (Confluent framing? strip_framing removes it)" if data[:1] in (b"\0", b"\1") else ""
        raise InvalidProtobuf(f"not a {name}: {e} ({len(data)} bytes){hint}", details=details) from e
    unknown = sorted({f.field_number for f in unknown_fields.UnknownFieldSet(msg)})
    if unknown:
        fields = ", ".join(map(str, unknown))
        raise InvalidProtobuf(
            f"not a {name}: field number(s) {fields} are not in the Open Inference Protocol ({len(data)} bytes)",
            details={**details, "unknown_fields": unknown},
        )
    return msg


def _put_parameters(doc: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """``doc`` with ``parameters`` (sorted by name) when there are any."""
    if params:
        doc["parameters"] = {key: _parameter(params[key]) for key in sorted(params)}
    return doc


def _parameter(param: Any) -> Any:
    which = param.WhichOneof("parameter_choice")
    return None if which is None else getattr(param, which)


def _tensors(items: Sequence[Any], raw: Sequence[bytes], key: str, raw_name: str) -> list[dict[str, Any]]:
    if raw and len(raw) != len(items):
        raise CodecError(f"{len(raw)} {raw_name} for {len(items)} {key}: the i-th entry holds the i-th tensor's data")
    out = []
    for i, item in enumerate(items):
        where = f"{key}[{i}] ({item.name!r})"
        tensor = _put_parameters(
            {"name": item.name, "datatype": item.datatype, "shape": list(item.shape)}, item.parameters
        )
        typed = item.contents.ListFields()
        if raw and typed:
            raise CodecError(f"{where}: has contents as well as {raw_name}[{i}]; the protocol allows one or the other")
        tensor["data"] = _raw(raw[i], item.datatype, where) if raw else _typed(typed, item.datatype, where)
        out.append(tensor)
    return out


def _raw(chunk: bytes, datatype: str, where: str) -> list[Any]:
    elements = raw_elements(memoryview(chunk), datatype, where)
    if datatype == BYTES:
        return [_text(e) for e in elements]
    values: list[Any] = to_lists(elements)
    return values


def _typed(fields: list[tuple[Any, Any]], datatype: str, where: str) -> list[Any]:
    if not fields:
        return []
    if datatype not in DATATYPES:
        raise CodecError(f"{where}: unknown datatype {datatype!r}; known: {', '.join(DATATYPES)}")
    expected = CONTENTS_FIELD.get(datatype)
    names = [field.name for field, _ in fields]
    if names != [expected]:
        wanted = f"its values in {expected}" if expected else "raw contents only (no typed contents field)"
        raise CodecError(f"{where}: datatype {datatype} takes {wanted}, got {', '.join(names)}")
    values = fields[0][1]
    if datatype == BYTES:
        return [_text(v) for v in values]
    out: list[Any] = to_lists(np.asarray(values, dtype=_TYPED_DTYPE[names[0]]))
    return out


def _text(value: bytes) -> str | bytes:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value
