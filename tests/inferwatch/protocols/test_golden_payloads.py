"""Every golden payload decodes and encodes back to exactly the same JSON."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from inferwatch.protocols import CODECS, decode_body, get_codec
from inferwatch.protocols.payload import Payload

GOLDEN = Path(__file__).resolve().parents[2] / "testdata" / "protocols"
BODIES = sorted(p for p in GOLDEN.glob("*__*__*.json"))


def load(name: str) -> Any:
    return orjson.loads((GOLDEN / name).read_bytes())


def decode(name: str) -> Payload:
    protocol, kind, _ = name.split("__", 2)
    codec = get_codec(protocol)
    body = load(name)
    return codec.decode_request(body) if kind == "request" else codec.decode_response(body)


def test_every_protocol_and_kind_has_goldens() -> None:
    seen = {tuple(p.name.split("__")[:2]) for p in BODIES}
    for protocol in CODECS:
        assert (protocol, "request") in seen and (protocol, "response") in seen, protocol
    assert len(BODIES) >= 25


@pytest.mark.parametrize("path", BODIES, ids=lambda p: p.stem)
def test_golden_round_trip(path: Path) -> None:
    protocol, kind, _ = path.name.split("__", 2)
    codec = get_codec(protocol)
    body = orjson.loads(path.read_bytes())
    payload = codec.decode_request(body) if kind == "request" else codec.decode_response(body)
    assert payload.protocol == protocol and payload.kind == kind
    encoded = codec.encode_request(payload) if kind == "request" else codec.encode_response(payload)
    assert encoded == body
    # the JSON-able forms really are JSON
    orjson.dumps(payload.to_json())
    if payload.tensors:
        orjson.dumps(payload.rows())


@pytest.mark.parametrize("path", BODIES, ids=lambda p: p.stem)
def test_golden_sniffed_to_its_protocol(path: Path) -> None:
    protocol, kind, _ = path.name.split("__", 2)
    if "error" in path.stem:  # bare {"error": ...} bodies are ambiguous without a hint
        return
    decoded = decode_body(path.read_bytes(), kind=kind)
    assert decoded.error is None
    assert decoded.protocol == protocol


def test_seldon_ndarray_names_rows() -> None:
    p = decode("seldon__response__ndarray_names.json")
    assert p.id == "hello"
    assert p.names == ["t:0", "t:1", "t:2"]
    assert p.rows() == [{"t:0": 0.0006985194531162841, "t:1": 0.003668039039435755, "t:2": 0.9956334415074478}]


def test_seldon_tensor_is_reshaped() -> None:
    t = decode("seldon__request__tensor.json").tensors[0]
    assert t.shape == [2, 2] and t.datatype == "FP64"
    assert isinstance(t.data, np.ndarray)
    assert t.data.tolist() == [[0.0, 0.0], [1.0, 1.0]]


def test_seldon_tftensor_content_decoded() -> None:
    t = decode("seldon__request__tftensor.json").tensors[0]
    assert t.datatype == "FP32" and t.shape == [2, 3]
    assert isinstance(t.data, np.ndarray) and t.data.dtype == np.float32
    assert t.data.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    t64 = decode("seldon__request__tftensor_values.json").tensors[0]
    assert t64.datatype == "INT64" and t64.data.tolist() == [[1, 2, 3]]  # type: ignore[union-attr]


def test_seldon_bindata_is_bytes() -> None:
    t = decode("seldon__request__bindata.json").tensors[0]
    assert t.name == "binData" and isinstance(t.data[0], bytes)
    assert t.data[0].startswith(b"\x89PNG")


def test_seldon_status_error_decodes() -> None:
    p = decode("seldon__response__status_error.json")
    assert p.tensors == []
    assert p.error is not None and "Unknown data type" in p.error and p.error.startswith("-1")


def test_seldon_mixed_ndarray_rows_keep_types() -> None:
    p = decode("seldon__request__ndarray_mixed.json")
    assert p.tensors[0].datatype == "BYTES"
    assert p.rows() == [
        {"age": 53, "workclass": "Private", "education": "11th"},
        {"age": 28, "workclass": "Private", "education": "Bachelors"},
    ]
    assert p.parameters == {"tags": {"source": "adult"}}


def test_seldon_feedback_parts() -> None:
    p = decode("seldon__request__feedback.json")
    assert [t.name for t in p.tensors] == ["request.data", "response.data", "truth.data"]
    assert p.parameters["reward"] == 1.0
    assert p.tensor("truth.data").data.tolist() == [[0, 1]]  # type: ignore[union-attr]


def test_v2_every_input_decoded_with_parameters() -> None:
    p = decode("v2__request__titanic_mixed.json")
    assert len(p.tensors) == 10
    assert p.names == [t.name for t in p.tensors]
    assert p.tensor("Fare").data.tolist() == [7.25, 71.2833]  # type: ignore[union-attr]
    assert p.tensor("Name").data == [
        "Braund, Mr. Owen Harris",
        "Cumings, Mrs. John Bradley (Florence Briggs Thayer)",
    ]
    rows = p.rows()
    assert len(rows) == 2 and rows[1]["Cabin"] == "C85" and rows[0]["Pclass"] == 3
    pd_ = decode("v2__request__pandas_columns.json")
    assert pd_.parameters == {"content_type": "pd"}
    assert pd_.tensor("First Name").parameters == {"content_type": "str"}


def test_v2_base64_content_type_gives_bytes() -> None:
    t = decode("v2__request__base64.json").tensors[0]
    assert t.data == [b"Python is fun"]
    assert t.to_json()["encoding"] == "base64"
    assert t.to_json()["data"] == [base64.b64encode(b"Python is fun").decode()]


def test_v2_null_is_nan() -> None:
    t = decode("v2__request__np_nan.json").tensors[0]
    assert isinstance(t.data, np.ndarray) and t.shape == [2, 2]
    assert np.isnan(t.data[1, 0]) and t.data[1, 1] == 4.5
    assert t.to_json()["data"] == [[1.2, 2.3], [None, 4.5]]


def test_v2_nested_data_respects_shape() -> None:
    t = decode("v2__request__nested_fp32.json").tensors[0]
    assert t.data.shape == (2, 4) and t.data.dtype == np.float32  # type: ignore[union-attr]
    assert t.nested() == [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]


def test_v2_response_fields() -> None:
    p = decode("v2__response__sum_model.json")
    assert (p.model_name, p.id) == ("sum-model", "123")
    assert p.tensors[0].data.tolist() == [21.0]  # type: ignore[union-attr]
    err = decode("v2__response__error.json")
    assert err.tensors == [] and err.error == "Model iris with version  not found"


def test_kserve_named_rows_become_columns() -> None:
    p = decode("kserve-v1__request__tf_named_rows.json")
    assert p.names == ["tag", "signal", "sensor"]
    assert p.tensor("sensor").shape == [2, 2, 2]
    assert p.tensor("tag").data == ["foo", "bar"]
    col = decode("kserve-v1__request__tf_columnar.json")
    assert [t.name for t in col.tensors] == ["tag", "signal", "sensor"]
    assert col.tensor("signal").data.tolist() == p.tensor("signal").data.tolist()  # type: ignore[union-attr]


def test_kserve_b64_values_are_bytes() -> None:
    p = decode("kserve-v1__request__tf_b64.json")
    assert p.tensor("image_bytes").data == [b"hello", b"world"]
    assert p.parameters == {"signature_name": "serving_default"}
    assert p.rows()[1] == {"image_bytes": base64.b64encode(b"world").decode(), "key": "2"}


def test_kserve_error_response() -> None:
    p = decode("kserve-v1__response__tf_error.json")
    assert p.error == "Servable not found for request: Latest(half_plus_three)"
