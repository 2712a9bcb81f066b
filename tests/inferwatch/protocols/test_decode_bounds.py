"""Hostile and malformed tensors: declared shapes against the data sent, every datatype's range, the element limit,
and ``Inference-Header-Content-Length``. Each error names the input (and the datatype) and carries its status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pytest

from inferwatch.errors import CodecError, InvalidTensor, TooManyElements
from inferwatch.protocols import decode_body, get_codec, limits
from inferwatch.protocols.v2_binary import encode_binary, header_length, parse_binary


@pytest.fixture(autouse=True)
def _default_limit() -> Iterator[None]:
    yield
    limits.configure(limits.DEFAULT_MAX_ELEMENTS)


def v2(datatype: str, data: list[Any], name: str = "x") -> dict[str, Any]:
    return {"inputs": [{"name": name, "shape": [len(data)], "datatype": datatype, "data": data}]}


@pytest.mark.parametrize(
    ("datatype", "data", "reason"),
    [
        ("INT8", [1, 1000], "value 1000 is outside INT8's range [-128, 127]"),
        ("UINT8", [-1], "value -1 is outside UINT8's range [0, 255]"),
        ("BOOL", [True, 2], "value 2 is not a boolean"),
        ("FP16", [1.0, 70000.0], "value 70000 overflows FP16"),
        ("FP32", [1e39], "overflows FP32"),
        ("INT32", [1.5], "value 1.5 is not a whole number"),
        ("INT64", [True], "must be integers, got booleans"),
        ("UINT64", [2**64], "is outside UINT64's range"),
        ("INT16", [None], "not a whole number"),
        ("FP64", [True, False], "must be numbers, got booleans"),
    ],
)
def test_a_value_that_does_not_fit_its_datatype_is_422_naming_input_and_datatype(
    datatype: str, data: list[Any], reason: str
) -> None:
    with pytest.raises(InvalidTensor) as e:
        get_codec("v2").decode_request(v2(datatype, data, name="age"))
    assert e.value.status_code == 422
    assert f"inputs[0] ('age') {datatype}" in e.value.message
    assert reason in e.value.message


@pytest.mark.parametrize(
    ("datatype", "data", "expected"),
    [
        ("INT8", [-128, 127], [-128, 127]),
        ("UINT8", [0, 255], [0, 255]),
        ("BOOL", [True, False, 1, 0], [True, False, True, False]),
        ("FP16", [65504.0, -65504.0], [65504.0, -65504.0]),
        ("UINT64", [2**64 - 1, 1], [2**64 - 1, 1]),
        ("INT64", [2**63 - 1, -(2**63)], [2**63 - 1, -(2**63)]),
        ("INT32", [3.0], [3]),
    ],
)
def test_values_at_the_edges_of_their_datatype_are_accepted(datatype: str, data: list[Any], expected: Any) -> None:
    t = get_codec("v2").decode_request(v2(datatype, data)).tensors[0]
    assert isinstance(t.data, np.ndarray) and t.data.tolist() == expected


def test_null_in_float_data_is_nan() -> None:
    t = get_codec("v2").decode_request(v2("FP32", [1.0, None])).tensors[0]
    assert isinstance(t.data, np.ndarray) and np.isnan(t.data[1])


def test_binary_bool_bytes_other_than_0_and_1_are_refused() -> None:
    doc = {"inputs": [{"name": "flag", "shape": [2], "datatype": "BOOL", "parameters": {"binary_data_size": 2}}]}
    head = orjson.dumps(doc)
    with pytest.raises(InvalidTensor, match=r"'flag'.*BOOL"):
        parse_binary(head + b"\x01\x02", len(head))


@pytest.mark.parametrize("value", ["²", "١٢", "1" * 5000, " 12", "+12", "1_2", "-1", ""])
def test_inference_header_content_length_must_be_ascii_digits(value: str) -> None:
    with pytest.raises(CodecError) as e:
        header_length(value)
    assert e.value.status_code == 400
    assert "Inference-Header-Content-Length" in e.value.message


def test_inference_header_content_length_past_the_body_is_400() -> None:
    assert header_length("12", body_size=12) == 12
    with pytest.raises(CodecError, match="Inference-Header-Content-Length is 13 but the body has only 12 bytes"):
        header_length("13", body_size=12)


def test_decode_body_with_an_invalid_header_length_reports_it() -> None:
    body, _ = encode_binary({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}, {"x": np.ones(1)})
    decoded = decode_body(body, kind="request", header_length=-1)
    assert decoded.payload is None and decoded.error is not None
    assert "Inference-Header-Content-Length" in decoded.error


def test_a_shortened_tftensor_value_list_is_refused_not_padded() -> None:
    """111 bytes that declared 2,000,000 values (one floatVal) cost the logger 1.1 GB and a 90 MB record."""
    tf = {"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "2000000"}]}, "floatVal": [1.0]}
    raw = orjson.dumps({"data": {"tftensor": tf}})
    with pytest.raises(InvalidTensor, match=r"declares 2000000 values, floatVal has 1") as e:
        get_codec("seldon").decode_request(orjson.loads(raw))
    assert e.value.status_code == 422
    decoded = decode_body(raw, kind="request", protocol="seldon")
    assert decoded.payload is None and decoded.status == 422 and "floatVal has 1" in (decoded.error or "")


def test_tftensor_int_values_are_range_checked() -> None:
    tf = {"dtype": "DT_INT8", "tensorShape": {"dim": [{"size": "2"}]}, "intVal": [1, 300]}
    with pytest.raises(InvalidTensor, match="value 300 is outside INT8's range"):
        get_codec("seldon").decode_request({"data": {"tftensor": tf}})


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"tensor": {"shape": [2**62, 0], "values": []}}},
        {"data": {"tftensor": {"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": str(2**62)}, {"size": "0"}]}}}},
        {"inputs": [{"name": "x", "shape": [2**62, 0], "datatype": "FP32", "data": []}]},
        {"inputs": [{"name": "x", "shape": [2**40, 2**40], "datatype": "FP32", "data": [1]}]},
    ],
    ids=["seldon-tensor", "tftensor", "v2-zero", "v2-product"],
)
def test_a_declared_shape_over_the_element_limit_is_413(body: dict[str, Any]) -> None:
    protocol = "v2" if "inputs" in body else "seldon"
    with pytest.raises(TooManyElements) as e:
        get_codec(protocol).decode_request(body)
    assert e.value.status_code == 413 and "10,000,000 elements" in e.value.message
    decoded = decode_body(orjson.dumps(body), kind="request", protocol=protocol)  # never raises
    assert decoded.payload is None and decoded.status == 413


def test_the_element_limit_counts_every_input_of_a_request_and_calls_the_hook() -> None:
    refused: list[int] = []
    limits.configure(5, lambda: refused.append(1))
    ok = {"inputs": [v2("FP32", [1, 2, 3])["inputs"][0], v2("FP32", [1, 2], "y")["inputs"][0]]}
    assert len(get_codec("v2").decode_request(ok).tensors) == 2
    over = {"inputs": [v2("FP32", [1, 2, 3])["inputs"][0], v2("FP32", [1, 2, 3], "y")["inputs"][0]]}
    with pytest.raises(TooManyElements, match="6 elements in all, over the limit of 5"):
        get_codec("v2").decode_request(over)
    with pytest.raises(TooManyElements):
        get_codec("kserve-v1").decode_request({"instances": [[1, 2, 3], [4, 5, 6]]})
    assert refused == [1, 1]
