"""The smaller forms of a record a sink could not write whole: reduced (no derived fields), then shed (no raw
bodies, size and sha256 kept); results reduced to their scalar values."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import numpy as np
import orjson

from inferwatch.records import Flag, InferenceRecord, PayloadRecord
from inferwatch.reduction import smaller
from inferwatch.results import ResultRecord, decode_record
from tests.inferwatch.sinks.sink_records import deep_record, golden


def test_reduced_keeps_the_raw_bodies_and_leaves_out_what_was_derived_from_them() -> None:
    rec = golden("seldon_ndarray", request_id="r1")
    before = rec.to_json()
    step = smaller(rec)
    assert step is not None
    reduced, flag = step
    assert flag == Flag.REDUCED and isinstance(reduced, InferenceRecord)
    assert rec.to_json() == before, "the original is untouched"
    assert reduced.flags == ["reduced"] and reduced.instances == [] and reduced.feature_names is None
    for side in ("request", "response"):
        got, want = getattr(reduced, side), getattr(rec, side)
        assert got.decoded is None and got.raw == want.raw and got.size == want.size
        assert got.sha256 == hashlib.sha256(want.raw.encode()).hexdigest()
    assert (reduced.id, reduced.received_at, reduced.model_name) == (rec.id, rec.received_at, rec.model_name)
    assert decode_record(orjson.loads(reduced.to_json())) == reduced, "it round-trips like any record"


def test_shed_leaves_out_the_raw_bodies_too_then_nothing_is_left_to_leave_out() -> None:
    rec = golden("seldon_ndarray", request_id="r1")
    rec.flag(Flag.PARTIAL)
    reduced = smaller(rec)
    assert reduced is not None
    step = smaller(reduced[0])
    assert step is not None
    shed, flag = step
    assert flag == Flag.SHED and isinstance(shed, InferenceRecord)
    assert shed.flags == ["partial", "reduced", "shed"]
    assert shed.request is not None and rec.request is not None
    assert (shed.request.raw, shed.request.size, shed.request.content_type) == (
        "",
        rec.request.size,
        "application/json",
    )
    assert shed.request.sha256 == hashlib.sha256(rec.request.raw.encode()).hexdigest()
    assert smaller(shed) is None


def test_a_base64_body_is_hashed_as_the_bytes_it_stands_for() -> None:
    body = bytes(range(256))
    side = PayloadRecord(size=256, raw=base64.b64encode(body).decode(), raw_encoding="base64")
    rec = InferenceRecord(id="b", received_at=datetime(2026, 1, 1, tzinfo=UTC), request=side)
    step = smaller(rec)
    assert step is not None and isinstance(step[0], InferenceRecord) and step[0].request is not None
    assert step[0].request.sha256 == hashlib.sha256(body).hexdigest()


def test_a_record_too_deep_to_serialise_serialises_once_reduced() -> None:
    rec = deep_record()
    try:
        rec.to_json()
        raise AssertionError("the fixture must not serialise")
    except TypeError:
        pass
    step = smaller(rec)
    assert step is not None
    assert b'"flags":["reduced"]' in step[0].to_json()


def test_a_result_keeps_its_scalar_values_once() -> None:
    body = {
        "data": {"is_outlier": 1, "instance_score": np.float64(3.5), "feature_score": [[0.1] * 4], "note": "x" * 5000},
        "meta": {"name": "IForest", "params": {"n": 1}},
    }
    result = ResultRecord("r1/outlier", "outlier", body, "r1")
    step = smaller(result)
    assert step is not None
    reduced, flag = step
    assert flag == Flag.REDUCED and isinstance(reduced, ResultRecord)
    assert reduced.body == {
        "data": {"is_outlier": 1, "instance_score": 3.5},
        "meta": {"name": "IForest"},
        "reduced": True,
    }
    assert result.body["data"]["feature_score"] == [[0.1] * 4], "the original is untouched"
    assert smaller(reduced) is None
