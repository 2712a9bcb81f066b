"""Bodies that break their format raise CodecError with a reason that names the problem."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from inferwatch.errors import CodecError, InvalidTensor
from inferwatch.protocols import get_codec
from inferwatch.protocols.datatypes import REDACTED
from inferwatch.protocols.payload import Payload, Tensor


def v2_input(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}
    item.update(overrides)
    return {"inputs": [item]}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([1, 2], "must be a JSON object"),
        ({"outputs": []}, "no 'inputs'"),
        (v2_input(datatype="FLOAT"), "unknown datatype 'FLOAT'"),
        (v2_input(shape=[2, -1]), "negative dimension"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}, "lacks data"),
    ],
)
def test_v2_request_errors(body: Any, reason: str) -> None:
    with pytest.raises(CodecError) as e:
        get_codec("v2").decode_request(body)
    assert reason in e.value.message
    assert e.value.status_code == 400


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (v2_input(data=[1, 2, 3]), "inputs[0] ('x'): shape [2, 2] needs 4 values, data has 3"),
        (v2_input(data=["a", "b", "c", "d"]), "inputs[0] ('x') FP32: FP32 data must be numbers"),
        (
            {"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": ["a", "b"]}]},
            "inputs[0] ('x'): shape [1] needs 1 values, data has 2",
        ),
    ],
)
def test_v2_tensor_that_contradicts_itself_is_422_naming_the_input(body: Any, reason: str) -> None:
    with pytest.raises(InvalidTensor) as e:
        get_codec("v2").decode_request(body)
    assert reason in e.value.message
    assert e.value.status_code == 422


def test_v2_error_names_the_input() -> None:
    body = {"inputs": [v2_input()["inputs"][0], {"name": "second", "shape": [1], "datatype": "X", "data": [1]}]}
    with pytest.raises(CodecError, match=r"inputs\[1\] \('second'\)"):
        get_codec("v2").decode_request(body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"data": [1, 2]}, "'data' must be an object"),
        ({"data": {"ndarray": [[1]], "tensor": {"shape": [1], "values": [1]}}}, "more than one"),
        ({"data": {"tensor": {"shape": [2, 2], "values": [1, 2, 3]}}}, "needs 4 values"),
        ({"binData": "not base64!"}, "not valid base64"),
        ({"strData": "a", "jsonData": {}}, "more than one of data/strData"),
        ({"data": {"tftensor": {"dtype": "DT_COMPLEX64"}}}, "not supported"),
        (
            {
                "data": {
                    "tftensor": {
                        "dtype": "DT_FLOAT",
                        "tensorShape": {"dim": [{"size": "2"}]},
                        "tensorContent": "AAAA",
                    }
                }
            },
            "tensorContent has 3 bytes",
        ),
        ({"data": {"names": "a"}}, "names must be a list"),
    ],
)
def test_seldon_errors(body: Any, reason: str) -> None:
    with pytest.raises(CodecError) as e:
        get_codec("seldon").decode_request(body)
    assert reason in e.value.message


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"signature_name": "x"}, "none of instances, inputs"),
        ({"instances": {"a": 1}}, "'instances' must be a list"),
        ({"instances": [{"a": 1}, {"b": 2}]}, "instances[1] has keys ['b']"),
        ({"instances": [{"b64": "%%%"}]}, "not valid base64"),
    ],
)
def test_kserve_v1_errors(body: Any, reason: str) -> None:
    with pytest.raises(CodecError) as e:
        get_codec("kserve-v1").decode_request(body)
    assert reason in e.value.message


def test_v2_encoding_non_utf8_bytes_without_base64_content_type_fails() -> None:
    p = Payload("v2", "request", [Tensor("b", "BYTES", [1], [b"\xff"])])
    with pytest.raises(CodecError, match="content_type='base64'"):
        get_codec("v2").encode_request(p)


def test_v2_invalid_base64_element_is_kept_as_text() -> None:
    body = {
        "inputs": [
            {
                "name": "b",
                "shape": [2],
                "datatype": "BYTES",
                "parameters": {"content_type": "base64"},
                "data": ["aGk=", "not base64"],
            }
        ]
    }
    p = get_codec("v2").decode_request(body)
    assert p.tensors[0].data == [b"hi", "not base64"]
    assert get_codec("v2").encode_request(p) == body


def test_seldon_tftensor_layouts() -> None:
    codec = get_codec("seldon")
    snake = {
        "data": {"tftensor": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": 2}]}, "float_val": [0.5, 1.5]}}
    }
    p = codec.decode_request(snake)
    t = p.tensors[0]
    assert isinstance(t.data, np.ndarray) and t.data.tolist() == [0.5, 1.5]
    assert codec.encode_request(p) == snake
    half = {
        "data": {
            "tftensor": {
                "dtype": "DT_HALF",
                "tensorShape": {"dim": [{"size": "2"}]},
                "halfVal": [15360, 16384],
            }
        }
    }
    p = codec.decode_request(half)
    assert p.tensors[0].datatype == "FP16" and p.tensors[0].data.tolist() == [1.0, 2.0]  # type: ignore[union-attr]
    assert codec.encode_request(p) == half
    strings = {
        "data": {
            "tftensor": {
                "dtype": "DT_STRING",
                "tensorShape": {"dim": [{"size": "2"}]},
                "stringVal": ["aGVsbG8=", "d29ybGQ="],
            }
        }
    }
    p = codec.decode_request(strings)
    assert p.tensors[0].data == [b"hello", b"world"]
    assert codec.encode_request(p) == strings


def _tf(dtype: str, field: str, values: list[Any], size: int = 2) -> dict[str, Any]:
    return {"tftensor": {"dtype": dtype, "tensorShape": {"dim": [{"size": str(size)}]}, field: values}}


@pytest.mark.parametrize(
    ("data", "values"),
    [
        ({"tensor": {"shape": [1, 3], "values": [1.5, REDACTED, 2]}}, [1.5, REDACTED, 2]),
        (_tf("DT_INT64", "int64Val", ["7", REDACTED, "8"], 3), [7, REDACTED, 8]),
        (_tf("DT_HALF", "halfVal", [REDACTED, 15360]), [REDACTED, 1.0]),
        (_tf("DT_STRING", "stringVal", ["aGk=", REDACTED]), [b"hi", REDACTED]),
    ],
    ids=["tensor", "tftensor-int64", "tftensor-half", "tftensor-string"],
)
def test_seldon_numeric_values_masked_by_redaction_decode_as_bytes_and_encode_back(data: Any, values: Any) -> None:
    codec = get_codec("seldon")
    body = {"data": {"names": ["a", "b", "c"][: len(values)], **data}}
    p = codec.decode_request(body)
    assert p.tensors[0].datatype == "BYTES" and p.tensors[0].data == values
    assert codec.encode_request(p) == body


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"tensor": {"shape": [2], "values": ["x", REDACTED]}}, "must be numbers (or the redaction mask)"),
        ({"tensor": {"shape": [3], "values": [1, REDACTED]}}, "needs 3 values, got 2"),
        ({"tensor": {"shape": [2], "values": ["x", 1]}}, "must be numbers"),
        (_tf("DT_FLOAT", "floatVal", ["x", REDACTED]), "is not a valid FP32 list"),
    ],
)
def test_only_the_redaction_mask_may_stand_in_for_a_number(data: Any, reason: str) -> None:
    with pytest.raises(CodecError) as e:
        get_codec("seldon").decode_request({"data": data})
    assert reason in e.value.message
