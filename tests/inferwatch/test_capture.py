"""``RecordBuilder`` with redaction configured: what a record keeps of each kind of body, and ``scrub`` (what the
write-ahead log stores) giving the same record as the raw exchange."""

from __future__ import annotations

import gzip
import hashlib
from typing import Any

import numpy as np
import orjson
import pytest

from inferwatch.capture import Body, Exchange, RecordBuilder
from inferwatch.delivery.exchange_codec import decode_exchange, encode_exchange
from inferwatch.protocols.v2_binary import encode_binary
from inferwatch.records import InferenceRecord
from inferwatch.redact import DEFAULT_MASK, Redactor

SECRET = "SECRET-5d8e1f"
MASK = DEFAULT_MASK
V2_PATH = "/v2/models/income/infer"
BUILDER = RecordBuilder(Redactor(fields=["ssn"]))


def _exchange(
    raw: bytes, *, path: str = V2_PATH, limit: int = 1 << 20, ct: str = "application/json", **kw: Any
) -> Exchange:
    ex = Exchange("req-1", 1_800_000_000.0, responded_at=1_800_000_000.01, path=path, method="POST", **kw)
    ex.request = Body.capture(raw, ct, limit)
    return ex


def _v2(ssn: Any = SECRET, datatype: str = "BYTES") -> bytes:
    inputs = [
        {"name": "ssn", "datatype": datatype, "shape": [1], "data": [ssn]},
        {"name": "age", "datatype": "INT64", "shape": [1], "data": [41]},
    ]
    return orjson.dumps({"inputs": inputs, "parameters": {"pad": "x" * 200}})


def _no_secret(rec: InferenceRecord, secret: str = SECRET) -> None:
    assert secret not in rec.to_json().decode(), rec.to_json()


def test_a_truncated_body_is_withheld_keeping_its_size_type_and_hash() -> None:
    """Defect 1: the truncated prefix was stored raw, secret included."""
    raw = orjson.dumps({"ssn": SECRET, "age": 41, "pad": "x" * 200})
    rec = BUILDER.build(_exchange(raw, limit=64))
    _no_secret(rec)
    req = rec.request
    assert req is not None and req.raw == "" and req.decoded is None and req.redaction == "withheld"
    assert req.size == len(raw) and req.content_type == "application/json" and req.truncated
    assert req.sha256 == hashlib.sha256(raw[:64]).hexdigest()  # the bytes captured
    assert set(rec.flags) == {"truncated", "redacted"}


@pytest.mark.parametrize(
    ("raw", "ct", "why"),
    [
        (b"ssn=" + SECRET.encode() + b"&age=41", "text/plain", "not JSON"),
        (b'{"ssn": "' + SECRET.encode() + b'", "age": 4', "application/json", "not JSON"),
        (b"\xff\xfe" + SECRET.encode("utf-16-le"), "application/octet-stream", "not UTF-8"),
        (
            orjson.dumps({"inputs": [{"name": "ssn", "datatype": "INT64", "shape": [1], "contents": [SECRET]}]}),
            "application/json",
            "v2: ",
        ),
    ],
    ids=["text", "broken-json", "binary", "json-not-its-protocol"],
)
def test_an_unparsable_body_is_withheld_and_flagged(raw: bytes, ct: str, why: str) -> None:
    """Defect 1: a body that does not parse was stored raw."""
    rec = BUILDER.build(_exchange(raw, ct=ct))
    _no_secret(rec)
    if ct == "application/octet-stream":
        assert SECRET.encode("utf-16-le") not in rec.to_json()
    req = rec.request
    assert req is not None and req.raw == "" and req.decoded is None and req.redaction == "withheld"
    assert req.size == len(raw) and req.content_type == ct and req.sha256 == hashlib.sha256(raw).hexdigest()
    assert req.parse_error is not None and why in req.parse_error
    assert set(rec.flags) == {"parse_error", "redacted"} and rec.instances == []


def test_a_codec_error_quoting_a_value_is_not_stored() -> None:
    """numpy's message for ``int('SECRET…')`` names the value: a withheld body keeps only which codec refused it."""
    rec = BUILDER.build(_exchange(_v2(SECRET, datatype="INT64").replace(b'"age"', b'"ssn2"')))
    _no_secret(rec)
    assert rec.request is not None and rec.request.redaction == "withheld"
    assert rec.request.parse_error is not None and rec.request.parse_error.startswith("v2: ")


def test_kept_by_opt_in_an_unredactable_body_is_stored_as_captured_and_flagged_unredacted() -> None:
    builder = RecordBuilder(Redactor(fields=["ssn"]), unparsed="keep")
    raw = b"ssn=" + SECRET.encode()
    rec = builder.build(_exchange(raw, ct="text/plain"))
    req = rec.request
    assert req is not None and req.raw == raw.decode() and req.redaction == "kept"
    assert set(rec.flags) == {"parse_error", "unredacted"}


def test_without_redaction_nothing_changes_for_unparsable_bodies() -> None:
    rec = RecordBuilder().build(_exchange(b"not json", ct="text/plain"))
    assert rec.request is not None and rec.request.raw == "not json" and rec.request.redaction is None
    assert rec.flags == ["parse_error"]


def test_a_masked_v2_input_keeps_the_other_inputs_in_the_record() -> None:
    """Defect 3: the masked INT64 input failed to decode and took ``age`` with it."""
    rec = BUILDER.build(_exchange(_v2(123456789, datatype="INT64")))
    _no_secret(rec, "123456789")
    assert rec.request is not None and rec.request.parse_error is None and rec.request.redaction == "masked"
    assert rec.instances == [{"request": {"ssn": MASK, "age": 41}, "response": None}]
    assert rec.flags == ["redacted"] and rec.feature_names == ["ssn", "age"]
    tensors = {t["name"]: t for t in rec.request.decoded["tensors"]}  # type: ignore[index]
    assert tensors["ssn"]["datatype"] == "BYTES" and tensors["age"]["data"] == [41]


@pytest.mark.parametrize(
    ("data", "rows"),
    [
        (
            {"names": ["age", "ssn"], "tensor": {"shape": [2, 2], "values": [41, 123456789, 52, 123456780]}},
            [{"age": 41, "ssn": MASK}, {"age": 52, "ssn": MASK}],
        ),
        (
            {
                "names": ["age", "ssn"],
                "tftensor": {
                    "dtype": "DT_DOUBLE",
                    "tensorShape": {"dim": [{"size": "1"}, {"size": "2"}]},
                    "doubleVal": [41.0, 123456789.0],
                },
            },
            [{"age": 41.0, "ssn": MASK}],
        ),
    ],
    ids=["tensor", "tftensor"],
)
def test_seldon_tensor_and_tftensor_columns_are_masked_in_raw_and_rows(data: Any, rows: Any) -> None:
    """Defect 2."""
    rec = BUILDER.build(_exchange(orjson.dumps({"data": data}), path="/api/v1.0/predictions"))
    _no_secret(rec, "12345678")
    assert [i["request"] for i in rec.instances] == rows and rec.flags == ["redacted"]


def test_tags_from_cloudevents_metadata_are_masked() -> None:
    ex = _exchange(b'{"instances": [[1, 2]]}', path="/v1/models/m:predict")
    ex.tags = {"ce_type": "org.kubeflow.serving.inference.request", "metadata": {"ssn": [SECRET], "team": ["a"]}}
    rec = BUILDER.build(ex)
    _no_secret(rec)
    assert rec.tags["metadata"] == {"ssn": [MASK], "team": ["a"]} and rec.flags == ["redacted"]


def _binary_v2() -> tuple[bytes, int]:
    doc = {
        "inputs": [
            {"name": "ssn", "datatype": "INT64", "shape": [1]},
            {"name": "age", "datatype": "INT64", "shape": [1], "data": [41]},
        ]
    }
    return encode_binary(doc, {"ssn": np.array([123456789], dtype=np.int64)})


def _exchanges() -> dict[str, Exchange]:
    body, n = _binary_v2()
    binary = _exchange(body, ct="application/octet-stream")
    binary.request.header_length = n  # type: ignore[union-attr]
    gz = _exchange(gzip.compress(_v2()))
    gz.request.content_encoding = "gzip"  # type: ignore[union-attr]
    clean = _exchange(orjson.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [0.5]}]}))
    ex = {
        "masked": _exchange(_v2()),
        "truncated": _exchange(_v2(), limit=40),
        "unparsable": _exchange(b"ssn=" + SECRET.encode(), ct="text/plain"),
        "binary": binary,
        "gzip": gz,
        "clean": clean,
    }
    answer = orjson.dumps({"outputs": [{"name": "p", "datatype": "FP32", "shape": [1], "data": [0.5]}]})
    for e in ex.values():
        e.response = Body.capture(answer, None, 1 << 20)
        e.tags = {"metadata": {"ssn": [SECRET]}}
    return ex


@pytest.mark.parametrize("name", list(_exchanges()))
def test_scrub_leaves_no_secret_for_the_write_ahead_log_and_builds_the_same_record(name: str) -> None:
    """Defect 4: the write-ahead log stored the exchange as captured, before the record was built."""
    ex = _exchanges()[name]
    on_disk = encode_exchange(BUILDER.scrub(ex))
    assert SECRET.encode() not in on_disk and (123456789).to_bytes(8, "little") not in on_disk
    assert b"123456789" not in on_disk
    replayed = BUILDER.build(decode_exchange(on_disk))
    assert replayed.to_dict() == BUILDER.build(ex).to_dict()


def test_scrub_without_redaction_is_the_exchange_itself() -> None:
    ex = _exchanges()["masked"]
    assert RecordBuilder().scrub(ex) is ex
