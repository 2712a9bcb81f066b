"""Building V2 messages from values: ``array_tensor``, ``request_payload`` and model metadata, all written by the
V2 codec (the detector's outputs, the explainer's model calls and the demo model's metadata use them)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from inferwatch.errors import CodecError
from inferwatch.protocols import V2, Payload, get_codec
from inferwatch.protocols.base import RESPONSE
from inferwatch.protocols.datatypes import datatype_for, widest_datatype
from inferwatch.protocols.v2 import TensorMetadata, array_tensor, metadata_tensors, request_payload

CODEC = get_codec(V2)


def wire(tensor: Any) -> Any:
    """The tensor as it appears in an encoded V2 response body (through orjson, as the services send it)."""
    body = CODEC.encode_response(Payload(V2, RESPONSE, [tensor]))
    return orjson.loads(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY))["outputs"][0]


@pytest.mark.parametrize(
    ("values", "datatype", "shape", "data"),
    [
        (1, "INT64", [1], [1]),
        (np.array([0, 1], dtype=np.int32), "INT64", [2], [0, 1]),
        (np.array([[1, 2]], dtype=np.uint8), "UINT64", [1, 2], [1, 2]),
        (np.array([True, False]), "BOOL", [2], [True, False]),
        (0.05, "FP64", [1], [0.05]),
        (np.array([0.1, np.nan], dtype=np.float32), "FP64", [2], [float(np.float32(0.1)), None]),
        (np.array([[1.5, np.inf], [2, 3]]), "FP64", [2, 2], [1.5, None, 2.0, 3.0]),
        (["a", "b"], "BYTES", [2], ["a", "b"]),
        ([None, 0.5], "BYTES", [2], ["None", "0.5"]),
        ({"k": 1}, "BYTES", [1], ["{'k': 1}"]),
        ([], "FP64", [0], []),
    ],
)
def test_values_become_the_widest_datatype_of_their_kind(
    values: Any, datatype: str, shape: list[int], data: Any
) -> None:
    assert wire(array_tensor("out", values)) == {"name": "out", "shape": shape, "datatype": datatype, "data": data}


def test_float32_values_are_widened_exactly_without_a_declared_datatype() -> None:
    values = np.array([0.1], dtype=np.float32)
    assert wire(array_tensor("p", values))["data"] == np.array(values, dtype=np.float64).tolist()
    assert wire(array_tensor("p", values))["data"] != [0.1]


def test_a_declared_datatype_labels_the_values_as_they_are() -> None:
    x = np.array([[0.1, 2.0]], dtype=np.float32)
    assert wire(array_tensor("x", x, "FP64"))["data"] == [0.1, 2.0]  # float32 in its shortest form
    assert wire(array_tensor("x", np.array([[1, 2]]), "FP32")) == {
        "name": "x",
        "shape": [1, 2],
        "datatype": "FP32",
        "data": [1, 2],
    }
    assert wire(array_tensor("x", np.array([[1.5, 2]]), "BYTES"))["data"] == ["1.5", "2.0"]


def test_array_tensors_round_trip_through_the_codec() -> None:
    tensor = array_tensor("scores", np.array([[0.25, 0.75]]))
    body = CODEC.encode_response(Payload(V2, RESPONSE, [tensor], model_name="m"))
    assert CODEC.decode_response(orjson.loads(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY))).tensors == [
        tensor
    ]


def test_request_payload_names_the_wanted_outputs() -> None:
    x = array_tensor("input-0", np.array([[1.0, 2.0]]))
    assert CODEC.encode_request(request_payload([x], outputs=["proba"], id="r1")) == {
        "id": "r1",
        "inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [1.0, 2.0]}],
        "outputs": [{"name": "proba"}],
    }
    assert "outputs" not in CODEC.encode_request(request_payload([x]))


def test_model_metadata_tensors_are_read_leniently_and_written_back() -> None:
    doc = {"name": "iris", "inputs": [{"name": "a", "datatype": "FP32", "shape": [-1, 4]}, {"name": "b"}]}
    inputs = metadata_tensors(doc)
    assert inputs == [TensorMetadata("a", "FP32", [-1, 4]), TensorMetadata("b", "FP64", [])]
    assert inputs[0].to_json() == doc["inputs"][0]
    assert metadata_tensors({"name": "iris"}) == [] == metadata_tensors({"inputs": None})
    outputs = metadata_tensors({"outputs": [{"name": "p", "datatype": "FP64", "shape": [-1, 3]}]}, "outputs")
    assert outputs == [TensorMetadata("p", "FP64", [-1, 3])]


@pytest.mark.parametrize("doc", [[], {"inputs": {"name": "a"}}, {"inputs": [{"datatype": "FP32"}]}])
def test_a_body_that_is_not_model_metadata_is_a_codec_error(doc: Any) -> None:
    with pytest.raises(CodecError):
        metadata_tensors(doc)


@pytest.mark.parametrize(
    ("dtype", "datatype"),
    [
        (np.float32, "FP32"),
        (np.dtype(np.float64), "FP64"),
        (np.dtype(np.int32), "INT32"),
        (np.uint8, "UINT8"),
        (np.bool_, "BOOL"),
        (np.float16, "FP16"),
        (None, "FP64"),
        (object, "FP64"),
        ("not a dtype", "FP64"),
    ],
)
def test_datatype_for_a_dtype_or_scalar_type(dtype: Any, datatype: str) -> None:
    assert datatype_for(dtype) == datatype


def test_widest_datatype_by_kind() -> None:
    kinds = [np.array(v) for v in (True, 1, np.uint16(1), 1.0, "s", None, np.datetime64("2024-01-01"))]
    assert [widest_datatype(a) for a in kinds] == ["BOOL", "INT64", "UINT64", "FP64", "BYTES", "BYTES", "BYTES"]
