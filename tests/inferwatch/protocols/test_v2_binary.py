"""The V2 binary tensor data extension: a body written by Triton's own client (tritonclient, recorded in
tests/testdata/protocols/v2_binary) decodes to the same tensors as its JSON form; bad bodies say what is wrong."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from inferwatch.capture import Body, Exchange, RecordBuilder
from inferwatch.errors import CodecError
from inferwatch.protocols import decode_body
from inferwatch.protocols.v2_binary import encode_binary, header_length, parse_binary
from inferwatch.records import Flag

DATA = Path(__file__).resolve().parents[2] / "testdata" / "protocols" / "v2_binary"
RAW = (DATA / "request_mixed.bin").read_bytes()
META: dict[str, Any] = json.loads((DATA / "request_mixed.json").read_text())
N = META["inference_header_content_length"]


def test_triton_client_body_decodes_every_input() -> None:
    d = decode_body(RAW, kind="request", header_length=N, path="/v2/models/iris/infer")
    assert d.error is None and d.protocol == "v2" and d.payload is not None
    tensors = {t.name: t for t in d.payload.tensors}
    expected = META["expected"]
    assert tensors["features"].data.dtype == np.float32 and tensors["features"].shape == [2, 4]
    assert np.allclose(tensors["features"].data, expected["features"])
    assert tensors["ids"].data.tolist() == expected["ids"] and tensors["ids"].data.dtype == np.int64
    assert tensors["flags"].data.tolist() == expected["flags"]
    assert [bytes(w).decode() for w in tensors["words"].data] == expected["words"]
    assert tensors["scale"].data.tolist() == expected["scale"]  # a JSON input next to binary ones
    assert d.payload.id == "bin-1"


def test_binary_and_json_forms_give_the_same_payload() -> None:
    x = np.arange(20, dtype=np.float32).reshape(5, 4) / 3
    doc = {"inputs": [{"name": "x", "shape": [5, 4], "datatype": "FP32"}]}
    body, n = encode_binary(doc, {"x": x})
    as_json = orjson.dumps({"inputs": [{"name": "x", "shape": [5, 4], "datatype": "FP32", "data": x.tolist()}]})
    binary = decode_body(body, kind="request", header_length=n).payload
    plain = decode_body(as_json, kind="request", protocol="v2").payload
    assert binary is not None and plain is not None
    assert binary.rows() == plain.rows()
    assert np.array_equal(binary.tensors[0].data, x)
    binary.tensors[0].data[0, 0] = 1.0  # decoded arrays are writable copies, not views of the body


@pytest.mark.parametrize(
    ("body", "length", "message"),
    [
        (RAW, len(RAW) + 1, "the body has only"),
        (b"not json" + RAW[N:], 8, "is not JSON"),
        (RAW[:-1], N, "runs past"),
        (RAW + b"\0", N, "1 bytes after the last binary tensor"),
    ],
)
def test_bad_binary_bodies_say_what_is_wrong(body: bytes, length: int, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        parse_binary(body, length)
    d = decode_body(body, kind="request", header_length=length)
    assert d.payload is None and d.error is not None and message in d.error


def test_element_sizes_are_checked() -> None:
    head = orjson.dumps(
        {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 3}}]}
    )
    with pytest.raises(CodecError, match="not a whole number of FP32 values"):
        parse_binary(head + b"abc", len(head))
    head = orjson.dumps(
        {"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 6}}]}
    )
    with pytest.raises(CodecError, match="runs past the end of the tensor's data"):
        parse_binary(head + struct.pack("<I", 9) + b"ab", len(head))


def test_header_value_is_checked() -> None:
    assert header_length(None) is None and header_length("12") == 12
    with pytest.raises(CodecError, match="must be a byte count"):
        header_length("twelve")


def test_logged_binary_request_is_decoded_not_flagged() -> None:
    t0 = 1_800_000_000.0
    ex = Exchange(
        request_id="bin-1",
        received_at=t0,
        responded_at=t0 + 0.002,
        method="POST",
        path="/v2/models/iris/infer",
        status_code=200,
        request=Body(RAW, "application/octet-stream", len(RAW), header_length=N),
    )
    rec = RecordBuilder().build(ex)
    assert not rec.has(Flag.PARSE_ERROR), rec.flags
    assert rec.request is not None and rec.request.protocol == "v2" and rec.request.raw_encoding == "base64"
    assert rec.request.decoded is not None
    assert rec.request.decoded["names"] == ["features", "ids", "flags", "words", "scale"]
    assert rec.request.decoded["tensors"][0]["data"][1] == pytest.approx(META["expected"]["features"][1])

    x = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float64)
    body, n = encode_binary({"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64"}]}, {"x": x})
    ex.request = Body(body, "application/octet-stream", len(body), header_length=n)
    rows = RecordBuilder().build(ex).instances
    assert [r["request"] for r in rows] == [
        {"x_0": 5.1, "x_1": 3.5, "x_2": 1.4, "x_3": 0.2},
        {"x_0": 6.7, "x_1": 3.0, "x_2": 5.2, "x_3": 2.3},
    ]
