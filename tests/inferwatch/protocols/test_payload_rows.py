"""Per-instance flattening and the JSON-able decoded form."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from inferwatch.errors import CodecError
from inferwatch.protocols.payload import Payload, Tensor


def test_rows_use_names_for_a_single_matrix() -> None:
    p = Payload(
        "seldon",
        "request",
        [Tensor("data", "FP64", [2, 2], np.array([[1.0, 2.0], [3.0, 4.0]]))],
        names=["a", "b"],
    )
    assert p.rows() == [{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}]


def test_rows_without_names_index_columns() -> None:
    p = Payload(
        "v2",
        "request",
        [
            Tensor("x", "INT32", [2, 3], np.arange(6, dtype=np.int32).reshape(2, 3)),
            Tensor("y", "FP32", [2, 1], np.array([[0.5], [1.5]], dtype=np.float32)),
            Tensor("z", "BYTES", [2], ["u", "v"]),
            Tensor("img", "UINT8", [2, 1, 2], np.zeros((2, 1, 2), dtype=np.uint8)),
        ],
        names=["x", "y", "z", "img"],
    )
    assert p.rows() == [
        {"x_0": 0, "x_1": 1, "x_2": 2, "y": 0.5, "z": "u", "img": [[0, 0]]},
        {"x_0": 3, "x_1": 4, "x_2": 5, "y": 1.5, "z": "v", "img": [[0, 0]]},
    ]


def test_rows_refuse_disagreeing_batch_sizes() -> None:
    p = Payload("v2", "request", [Tensor("a", "FP64", [2], np.zeros(2)), Tensor("b", "FP64", [3], np.zeros(3))])
    with pytest.raises(CodecError, match="disagree on the batch size"):
        p.rows()


def test_rows_of_nan_and_bytes_are_json() -> None:
    p = Payload(
        "v2",
        "response",
        [
            Tensor("f", "FP64", [2], np.array([np.nan, 1.0])),
            Tensor("b", "BYTES", [2], [b"\x00", "text"], {"content_type": "base64"}),
        ],
    )
    rows = p.rows()
    assert rows == [{"f": None, "b": "AA=="}, {"f": 1.0, "b": "text"}]
    orjson.dumps(rows)


def test_to_json_shape() -> None:
    p = Payload("v2", "request", [Tensor("x", "BOOL", [1, 2], np.array([[True, False]]))], names=["x"], id="r")
    doc = p.to_json()
    assert doc["tensors"] == [{"name": "x", "datatype": "BOOL", "shape": [1, 2], "data": [[True, False]]}]
    assert doc["id"] == "r" and doc["protocol"] == "v2" and doc["names"] == ["x"]
    assert orjson.loads(orjson.dumps(doc)) == doc


def test_tensor_equality_compares_dtype_and_values() -> None:
    a = Tensor("x", "FP32", [2], np.array([1.0, np.nan], dtype=np.float32))
    assert a == Tensor("x", "FP32", [2], np.array([1.0, np.nan], dtype=np.float32))
    assert a != Tensor("x", "FP32", [2], np.array([1.0, np.nan], dtype=np.float64))
    assert a != Tensor("x", "FP32", [2], np.array([1.0, 2.0], dtype=np.float32))
