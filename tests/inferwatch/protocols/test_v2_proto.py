"""Open Inference Protocol protobuf messages (Seldon Core v2 topics) become V2 JSON that the V2 codec decodes.

Messages are built with the official generated classes; each datatype goes through typed ``contents`` and through
``raw_*_contents``; broken bytes, contradicting contents and framing say what is wrong.
"""

from __future__ import annotations

import random
import struct
from typing import Any

import numpy as np
import orjson
import pytest

from inferwatch.errors import CodecError, InvalidProtobuf, InvalidTensor, TooManyElements
from inferwatch.protocols import decode_body, get_codec
from inferwatch.protocols.datatypes import V2_TO_NUMPY
from inferwatch.protocols.oip import open_inference_grpc_pb2 as pb
from inferwatch.protocols.payload import Payload
from inferwatch.protocols.v2_proto import CONTENTS_FIELD, request_to_json, response_to_json, strip_framing
from tests.inferwatch.protocols import seldon_v2_data as golden

V2 = get_codec("v2")

#: datatype -> values (every datatype of the protocol, with values at the edges of its range)
VALUES: dict[str, list[Any]] = {
    "BOOL": [True, False, True, True],
    "INT8": [-128, 0, 5, 127],
    "INT16": [-32768, 1, 2, 32767],
    "INT32": [-(2**31), 0, 7, 2**31 - 1],
    "INT64": [-(2**63), 0, 9, 2**63 - 1],
    "UINT8": [0, 1, 200, 255],
    "UINT16": [0, 1, 300, 65535],
    "UINT32": [0, 1, 70000, 2**32 - 1],
    "UINT64": [0, 1, 2**40, 2**64 - 1],
    "FP16": [0.5, -1.25, 65504.0, 0.1],
    "FP32": [0.1, -2.5, 3.4e38, 1e-7],
    "FP64": [0.1, -2.5, 1.7e308, 5e-324],
    "BYTES": ["a", "ünï", "", "tab\tbed"],
}
TYPED = [dt for dt in VALUES if dt in CONTENTS_FIELD]  # FP16 has no typed field: raw only


def raw_bytes(datatype: str, values: list[Any]) -> bytes:
    """The protocol's raw layout: little-endian values, or length-prefixed BYTES elements."""
    if datatype == "BYTES":
        return golden.bytes_raw(values)
    return np.asarray(values, dtype=V2_TO_NUMPY[datatype].newbyteorder("<")).tobytes()


def expected(datatype: str, values: list[Any]) -> Any:
    return list(values) if datatype == "BYTES" else np.asarray(values, dtype=V2_TO_NUMPY[datatype])


def typed_request(datatype: str, values: list[Any], shape: list[int]) -> Any:
    msg = pb.ModelInferRequest(model_name="m", id="typed")
    tensor = msg.inputs.add(name="x", datatype=datatype, shape=shape)
    contents = [v.encode() for v in values] if datatype == "BYTES" else values
    getattr(tensor.contents, CONTENTS_FIELD[datatype]).extend(contents)
    return msg


def raw_request(datatype: str, values: list[Any], shape: list[int]) -> Any:
    msg = pb.ModelInferRequest(model_name="m", id="raw")
    msg.inputs.add(name="x", datatype=datatype, shape=shape)
    msg.raw_input_contents.append(raw_bytes(datatype, values))
    return msg


def decoded_request(msg: Any) -> Payload:
    return V2.decode_request(request_to_json(msg.SerializeToString()))


def assert_data(payload: Payload, datatype: str, values: list[Any], shape: list[int]) -> None:
    (tensor,) = payload.tensors
    assert (tensor.name, tensor.datatype, tensor.shape) == ("x", datatype, shape)
    if datatype == "BYTES":
        assert tensor.data == values
    else:
        assert tensor.data.dtype == expected(datatype, values).dtype
        np.testing.assert_array_equal(tensor.data, expected(datatype, values).reshape(shape))


@pytest.mark.parametrize("datatype", TYPED)
def test_typed_contents_of_every_datatype(datatype: str) -> None:
    payload = decoded_request(typed_request(datatype, VALUES[datatype], [2, 2]))
    assert_data(payload, datatype, VALUES[datatype], [2, 2])


@pytest.mark.parametrize("datatype", list(VALUES))
def test_raw_contents_of_every_datatype(datatype: str) -> None:
    payload = decoded_request(raw_request(datatype, VALUES[datatype], [2, 2]))
    assert_data(payload, datatype, VALUES[datatype], [2, 2])


@pytest.mark.parametrize("datatype", TYPED)
def test_typed_and_raw_contents_give_the_same_json(datatype: str) -> None:
    typed = request_to_json(typed_request(datatype, VALUES[datatype], [4]).SerializeToString())
    raw = request_to_json(raw_request(datatype, VALUES[datatype], [4]).SerializeToString())
    assert typed["inputs"] == raw["inputs"]
    assert orjson.loads(orjson.dumps(typed)) == typed  # plain JSON values: lists, str, numbers, bool


def test_float32_is_written_in_its_shortest_form_and_nan_as_null() -> None:
    doc = request_to_json(typed_request("FP32", [0.1, float("nan"), 1.0, 2.5], [4]).SerializeToString())
    assert doc["inputs"][0]["data"] == [0.1, None, 1.0, 2.5]
    (tensor,) = V2.decode_request(doc).tensors
    assert np.isnan(tensor.data[1]) and tensor.data[0] == np.float32(0.1)


def test_bytes_elements_are_text_when_utf8_else_bytes() -> None:
    msg = pb.ModelInferRequest()
    msg.inputs.add(name="b", datatype="BYTES", shape=[3]).contents.bytes_contents.extend([b"ok", b"\xff\xfe", b""])
    assert request_to_json(msg.SerializeToString())["inputs"][0]["data"] == ["ok", b"\xff\xfe", ""]


def test_request_with_tensors_parameters_and_requested_outputs() -> None:
    msg = pb.ModelInferRequest(model_name="m", model_version="3", id="req-1")
    msg.parameters["content_type"].string_param = "pd"
    msg.parameters["batch"].int64_param = -4
    msg.parameters["explain"].bool_param = True
    msg.parameters["threshold"].double_param = 0.25
    msg.parameters["seed"].uint64_param = 2**64 - 1
    msg.parameters["unset"].SetInParent()
    a = msg.inputs.add(name="a", datatype="FP64", shape=[2, 1])
    a.parameters["content_type"].string_param = "np"
    a.contents.fp64_contents.extend([1.5, 2.5])
    msg.inputs.add(name="b", datatype="INT32", shape=[2, 1]).contents.int_contents.extend([3, 4])
    out = msg.outputs.add(name="predict_proba")
    out.parameters["binary_data"].bool_param = False
    doc = request_to_json(msg.SerializeToString())
    assert doc == {
        "id": "req-1",
        "parameters": {
            "batch": -4,
            "content_type": "pd",
            "explain": True,
            "seed": 2**64 - 1,
            "threshold": 0.25,
            "unset": None,
        },
        "inputs": [
            {
                "name": "a",
                "datatype": "FP64",
                "shape": [2, 1],
                "parameters": {"content_type": "np"},
                "data": [1.5, 2.5],
            },
            {"name": "b", "datatype": "INT32", "shape": [2, 1], "data": [3, 4]},
        ],
        "outputs": [{"name": "predict_proba", "parameters": {"binary_data": False}}],
    }
    payload = V2.decode_request(doc)
    assert payload.id == "req-1" and payload.names == ["a", "b"] and payload.parameters["content_type"] == "pd"
    assert payload.extra["outputs"] == [{"name": "predict_proba", "parameters": {"binary_data": False}}]
    assert payload.tensors[1].data.tolist() == [[3], [4]]


def test_response_keeps_model_name_version_and_id() -> None:
    msg = pb.ModelInferResponse(model_name="iris", model_version="v2", id="r-9")
    msg.parameters["headers"].string_param = "x"
    msg.outputs.add(name="p", datatype="INT64", shape=[2]).contents.int64_contents.extend([0, 2])
    doc = response_to_json(msg.SerializeToString())
    assert doc == {
        "model_name": "iris",
        "model_version": "v2",
        "id": "r-9",
        "parameters": {"headers": "x"},
        "outputs": [{"name": "p", "datatype": "INT64", "shape": [2], "data": [0, 2]}],
    }
    payload = V2.decode_response(doc)
    assert (payload.model_name, payload.model_version, payload.id) == ("iris", "v2", "r-9")
    bare = response_to_json(pb.ModelInferResponse(model_name="iris").SerializeToString())
    assert bare == {"model_name": "iris", "outputs": []}  # proto3 has no absent string: empty ones are left out


def test_saved_seldon_v2_values_are_the_messages_their_builder_makes() -> None:
    req = (golden.DIR / "request_raw.bin").read_bytes()
    resp = (golden.DIR / "response_raw.bin").read_bytes()
    assert pb.ModelInferRequest.FromString(req) == golden.request()
    assert pb.ModelInferResponse.FromString(resp) == golden.response()
    assert (golden.DIR / "request_framed.bin").read_bytes() == golden.framed(req)
    assert orjson.loads((golden.DIR / "response.json").read_bytes()) == golden.response_json()


def test_saved_request_and_response_decode_into_the_same_exchange() -> None:
    request = V2.decode_request(request_to_json((golden.DIR / "request_raw.bin").read_bytes()))
    framed = request_to_json(strip_framing((golden.DIR / "request_framed.bin").read_bytes()))
    assert V2.decode_request(framed).tensors[0].data.tolist() == request.tensors[0].data.tolist()
    assert request.id == golden.REQUEST_ID and request.parameters == {"content_type": "np"}
    np.testing.assert_array_equal(request.tensors[0].data, golden.FEATURES)
    assert request.tensors[1].data == golden.WORDS
    response = V2.decode_response(response_to_json((golden.DIR / "response_raw.bin").read_bytes()))
    as_json = decode_body((golden.DIR / "response.json").read_bytes(), kind="response", protocol="v2")
    assert as_json.payload is not None and as_json.error is None
    for proto, text in zip(response.tensors, as_json.payload.tensors, strict=True):
        assert (proto.name, proto.datatype, proto.shape) == (text.name, text.datatype, text.shape)
        np.testing.assert_array_equal(proto.data, text.data)
    assert response.id == as_json.payload.id == request.id and response.model_name == "iris"


def test_the_json_document_goes_through_decode_body() -> None:
    doc = request_to_json((golden.DIR / "request_raw.bin").read_bytes())
    decoded = decode_body(orjson.dumps(doc), kind="request", protocol="v2")
    assert decoded.error is None and decoded.payload is not None
    assert decoded.payload.names == ["predict", "note"]


# --- Confluent schema-registry framing ------------------------------------------------------------------


def test_framing_is_stripped_whatever_its_message_indexes() -> None:
    value = golden.request().SerializeToString()
    assert strip_framing(golden.framed(value)) == value  # [0] written as a single 0 byte
    assert strip_framing(golden.framed(value, (0,))[:6] + value) == value
    assert strip_framing(golden.framed(value, (1, 2))) == value  # count 2 -> 0x04, then 0x02, 0x04
    assert golden.framed(value, (1, 2))[5:8] == b"\x04\x02\x04"
    assert strip_framing(golden.framed(value, (300,))) == value  # a two-byte varint
    guid = b"\x01" + bytes(range(16)) + b"\x00"  # confluent-kafka's newer form: magic 1, a 16-byte schema GUID
    assert strip_framing(guid + value) == value


def test_values_without_framing_are_left_as_they_are() -> None:
    value = golden.request().SerializeToString()
    assert strip_framing(value) is value
    assert strip_framing(b"") == b""
    assert strip_framing(b'{"inputs": []}') == b'{"inputs": []}'


def test_a_serialized_message_never_starts_with_a_framing_magic_byte() -> None:
    """The reasoning ``strip_framing`` relies on: a tag is ``field << 3 | wire_type`` with fields from 1."""
    first_bytes = set()
    for field in pb.ModelInferRequest.DESCRIPTOR.fields:
        msg = pb.ModelInferRequest()
        if field.name == "parameters":
            msg.parameters["k"].bool_param = True
        elif field.name in ("inputs", "outputs"):
            getattr(msg, field.name).add(name="x")
        elif field.name == "raw_input_contents":
            msg.raw_input_contents.append(b"\0")
        else:
            setattr(msg, field.name, "x")
        first_bytes.add(msg.SerializeToString()[0])
    assert len(first_bytes) == 7 and min(first_bytes) >= 8
    huge_field = b"\x80\x02\x00"  # field 32, varint: the tag's first byte has the continuation bit
    assert huge_field[0] & 0x80


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"\0\0\0", "header is cut off"),
        (b"\0\0\0\0\7", "cut off"),
        (b"\0\0\0\0\7\x04\x02", "cut off"),
        (b"\0\0\0\0\7\x03", "count -2 is not one"),
        (b"\1" + bytes(10), "17-byte header is cut off"),
    ],
)
def test_broken_framing_is_refused(value: bytes, why: str) -> None:
    with pytest.raises(InvalidProtobuf, match=why):
        strip_framing(value)


# --- bytes that are not the message, contents that contradict the protocol ----------------------------------


def test_random_bytes_are_not_a_request() -> None:
    rng = random.Random(20240607)
    for _ in range(50):
        noise = bytes(rng.randrange(8, 256) for _ in range(rng.randrange(1, 64)))
        with pytest.raises(InvalidProtobuf, match=r"^not a ModelInferRequest: ") as e:
            request_to_json(noise)
        assert e.value.details["message"] == "inference.ModelInferRequest" and e.value.status_code == 400


def test_truncated_bytes_are_not_a_response() -> None:
    value = golden.response().SerializeToString()
    for cut in (len(value) - 1, len(value) - 10, 3):
        with pytest.raises(InvalidProtobuf, match=r"^not a ModelInferResponse: .*\(\d+ bytes\)"):
            response_to_json(value[:cut])


def test_framed_bytes_given_to_the_decoder_hint_at_strip_framing() -> None:
    with pytest.raises(InvalidProtobuf, match="strip_framing removes it"):
        request_to_json((golden.DIR / "request_framed.bin").read_bytes())


def test_unknown_fields_are_refused() -> None:
    value = golden.request().SerializeToString() + b"\xa0\x06\x01"  # field 100, varint 1
    with pytest.raises(InvalidProtobuf, match=r"field number\(s\) 100 are not in the Open Inference Protocol") as e:
        request_to_json(value)
    assert e.value.details["unknown_fields"] == [100]


def test_contents_in_the_wrong_field_are_refused() -> None:
    msg = pb.ModelInferRequest()
    msg.inputs.add(name="x", datatype="FP32", shape=[1]).contents.fp64_contents.append(1.0)
    with pytest.raises(CodecError, match=r"inputs\[0\] \('x'\): datatype FP32 takes its values in fp32_contents"):
        request_to_json(msg.SerializeToString())
    msg = pb.ModelInferRequest()
    msg.inputs.add(name="h", datatype="FP16", shape=[1]).contents.fp32_contents.append(1.0)
    with pytest.raises(CodecError, match="FP16 takes raw contents only"):
        request_to_json(msg.SerializeToString())
    msg = pb.ModelInferRequest()
    msg.inputs.add(name="q", datatype="BF16", shape=[1]).contents.fp32_contents.append(1.0)
    with pytest.raises(CodecError, match="unknown datatype 'BF16'"):
        request_to_json(msg.SerializeToString())


def test_raw_contents_must_be_one_per_tensor_and_alone() -> None:
    msg = raw_request("FP32", [1.0], [1])
    msg.inputs.add(name="y", datatype="FP32", shape=[1])
    with pytest.raises(CodecError, match="1 raw_input_contents for 2 inputs"):
        request_to_json(msg.SerializeToString())
    msg.raw_input_contents.append(struct.pack("<f", 2.0))
    msg.inputs[1].contents.fp32_contents.append(2.0)
    with pytest.raises(CodecError, match=r"inputs\[1\] \('y'\): has contents as well as raw_input_contents\[1\]"):
        request_to_json(msg.SerializeToString())


def test_raw_bytes_that_are_not_whole_elements_are_refused() -> None:
    msg = pb.ModelInferResponse(model_name="m")
    msg.outputs.add(name="y", datatype="FP64", shape=[1])
    msg.raw_output_contents.append(b"\0" * 7)
    with pytest.raises(CodecError, match=r"outputs\[0\] \('y'\): 7 bytes is not a whole number of FP64 values"):
        response_to_json(msg.SerializeToString())
    msg.outputs[0].datatype = "BYTES"
    msg.raw_output_contents[0] = struct.pack("<I", 9) + b"ab"
    with pytest.raises(CodecError, match="runs past the end of the tensor's data"):
        response_to_json(msg.SerializeToString())


def test_shape_and_range_are_checked_by_the_v2_codec() -> None:
    with pytest.raises(InvalidTensor, match=r"shape \[3\] needs 3 values, data has 4"):
        decoded_request(raw_request("FP32", [1.0, 2.0, 3.0, 4.0], [3]))
    with pytest.raises(InvalidTensor, match="outside INT8's range"):
        decoded_request(typed_request("INT8", [1, 300], [2]))


def test_declared_elements_are_limited_as_in_any_v2_body() -> None:
    msg = pb.ModelInferRequest()
    msg.inputs.add(name="x", datatype="FP32", shape=[2**40, 2**40])
    doc = request_to_json(msg.SerializeToString())  # nothing allocated for the declared shape
    with pytest.raises(TooManyElements, match="exceeds the limit"):
        V2.decode_request(doc)
