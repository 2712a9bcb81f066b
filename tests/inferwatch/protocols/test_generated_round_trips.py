"""decode(encode(p)) == p for generated payloads of every datatype, in every codec that can carry it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from inferwatch.protocols import get_codec
from inferwatch.protocols.datatypes import V2_TO_NUMPY
from inferwatch.protocols.payload import Payload, Tensor

RNG = np.random.default_rng(7)
NUMERIC = list(V2_TO_NUMPY)


def random_array(datatype: str, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    dtype = V2_TO_NUMPY[datatype]
    if dtype.kind == "b":
        return RNG.integers(0, 2, size=shape).astype(bool)
    if dtype.kind == "f":
        return (RNG.standard_normal(shape) * 100).astype(dtype)
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


def round_trip(protocol: str, p: Payload) -> Payload:
    codec = get_codec(protocol)
    if p.kind == "request":
        return codec.decode_request(codec.encode_request(p))
    return codec.decode_response(codec.encode_response(p))


@pytest.mark.parametrize("datatype", NUMERIC)
@pytest.mark.parametrize("kind", ["request", "response"])
def test_v2_numeric(datatype: str, kind: str) -> None:
    a = Tensor("a", datatype, [3, 4], random_array(datatype, (3, 4)), {"content_type": "np"})
    b = Tensor("b", datatype, [3], random_array(datatype, (3,)))
    p = Payload("v2", kind, [a, b], names=["a", "b"], parameters={"x": 1}, id="r1")
    if kind == "response":
        p.model_name, p.model_version = "m", "2"
    assert round_trip("v2", p) == p


@pytest.mark.parametrize("kind", ["request", "response"])
def test_v2_bytes_str_and_base64(kind: str) -> None:
    s = Tensor("s", "BYTES", [2, 2], ["a", "b", "é", ""], {"content_type": "str"})
    b = Tensor("b", "BYTES", [2], [b"\x00\xff", b"png"], {"content_type": "base64"})
    p = Payload("v2", kind, [s, b], names=["s", "b"])
    assert round_trip("v2", p) == p


def test_v2_special_floats_round_trip_as_null() -> None:
    arr = np.array([1.5, np.nan, 0.1], dtype=np.float32)
    p = Payload("v2", "request", [Tensor("f", "FP32", [3], arr)], names=["f"])
    body = get_codec("v2").encode_request(p)
    assert body["inputs"][0]["data"] == [1.5, None, 0.1]  # shortest float32 text, NaN as null (MLServer)
    assert round_trip("v2", p) == p


@pytest.mark.parametrize("datatype", ["FP64", "INT64", "BOOL"])
@pytest.mark.parametrize("data_kind", ["ndarray", "tensor"])
def test_seldon_data(datatype: str, data_kind: str) -> None:
    if data_kind == "tensor" and datatype != "FP64":
        return  # Seldon's Tensor message carries doubles only
    t = Tensor("data", datatype, [2, 3], random_array(datatype, (2, 3)))
    p = Payload("seldon", "response", [t], names=["x", "y", "z"], parameters={"puid": "p1"}, id="p1")
    p.extra["data_kind"] = data_kind
    assert round_trip("seldon", p) == p


@pytest.mark.parametrize("datatype", NUMERIC)
def test_seldon_tftensor_every_dtype(datatype: str) -> None:
    for shape in ((2, 3), (1,)):
        t = Tensor("data", datatype, list(shape), random_array(datatype, shape))
        p = Payload("seldon", "request", [t], extra={"data_kind": "tftensor"})
        assert round_trip("seldon", p) == p


def test_seldon_tftensor_strings() -> None:
    t = Tensor("data", "BYTES", [2], [b"a", b"\xff"])
    p = Payload("seldon", "request", [t], extra={"data_kind": "tftensor"})
    assert round_trip("seldon", p) == p


@pytest.mark.parametrize("kind_", ["strData", "jsonData", "binData"])
def test_seldon_body_kinds(kind_: str) -> None:
    value: Any = {"strData": "hi", "jsonData": {"a": [1, 2]}, "binData": b"\x00\x01"}[kind_]
    ctype = {"strData": "str", "jsonData": "json", "binData": "base64"}[kind_]
    p = Payload("seldon", "request", [Tensor(kind_, "BYTES", [1], [value], {"content_type": ctype})])
    p.extra["data_kind"] = kind_
    assert round_trip("seldon", p) == p


@pytest.mark.parametrize("datatype", ["FP64", "INT64", "BOOL"])
def test_kserve_v1(datatype: str) -> None:
    t = Tensor("instances", datatype, [4, 2], random_array(datatype, (4, 2)))
    p = Payload("kserve-v1", "request", [t], extra={"field": "instances"})
    assert round_trip("kserve-v1", p) == p
    named = Payload(
        "kserve-v1",
        "response",
        [
            Tensor("score", datatype, [4], random_array(datatype, (4,))),
            Tensor("label", "BYTES", [4], list("abcd")),
        ],
        names=["score", "label"],
        extra={"field": "predictions", "layout": "named"},
    )
    assert round_trip("kserve-v1", named) == named
