"""``ResultRecord``: ids, JSON round trip, document addressing, per-instance split, spool decoding."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import orjson

from inferwatch.delivery.backlog import decode_record, encode_record
from inferwatch.results import ResultRecord, drift_id, per_request, result_id
from inferwatch.results import decode_record as decode_dict
from tests.inferwatch.sinks.sink_records import golden

OUTLIER = {
    "data": {"is_outlier": [0, 1, 0], "instance_score": [0.1, 0.9, 0.2], "threshold": 0.5},
    "meta": {"name": "IForest"},
}


def test_ids_are_deterministic() -> None:
    assert result_id("outlier", "r1") == "r1/outlier"
    assert result_id("explanation", "r1", 2) == "r1/explanation/2"
    end = datetime(2026, 11, 25, 10, 0, 1, 5, tzinfo=UTC)
    assert drift_id("iris-ks", end) == drift_id("iris-ks", end) == "drift/iris-ks/20261125T100001.000005Z"


def test_json_round_trip_and_discriminator() -> None:
    r = ResultRecord("r1/outlier", "outlier", {"data": {"score": np.float32(0.5)}}, "r1", namespace="prod", source="od")
    d = orjson.loads(r.to_json())
    assert d["record_type"] == "result" and d["created_at"].endswith("Z") and d["body"]["data"]["score"] == 0.5
    back = decode_dict(d)
    assert isinstance(back, ResultRecord)
    assert (back.id, back.request_id, back.namespace, back.created_at) == (r.id, "r1", "prod", r.created_at)


def test_document_addressing() -> None:
    assert ResultRecord("a", "outlier", {}, "rid", None, 1).document_id == "rid"
    assert ResultRecord("a", "outlier", {}, "rid", 0, 1).document_id == "rid"  # a single instance: no -item-
    assert ResultRecord("a", "outlier", {}, "rid", 2, 3).document_id == "rid-item-2"
    assert ResultRecord("a", "drift", {}).document_id is None
    assert ResultRecord("a", "drift", {}).key == "a" and ResultRecord("a", "outlier", {}, "rid").key == "rid"


def test_batch_results_split_per_instance() -> None:
    parts = per_request("outlier", OUTLIER, "rid", 3, source="od")
    assert [p.id for p in parts] == ["rid/outlier/0", "rid/outlier/1", "rid/outlier/2"]
    assert [p.document_id for p in parts] == ["rid-item-0", "rid-item-1", "rid-item-2"]
    assert [p.body["data"]["is_outlier"] for p in parts] == [0, 1, 0]
    assert parts[1].body["data"]["threshold"] == 0.5 and parts[1].body["meta"] == {"name": "IForest"}
    single = per_request("outlier", {"data": {"is_outlier": [1]}}, "one", 1)
    assert [(p.id, p.item, p.body["data"]["is_outlier"]) for p in single] == [("one/outlier", None, [1])]


def test_spool_frames_decode_to_either_type() -> None:
    record = golden("seldon_ndarray", request_id="rec-1")
    result = per_request("outlier", OUTLIER, "rec-1", 3)[0]
    assert decode_record(encode_record(record)) == record
    assert decode_record(encode_record(result)) == result
    legacy = orjson.dumps({k: v for k, v in record.to_dict().items()})  # spooled before results existed
    assert "record_type" not in orjson.loads(legacy) and decode_record(legacy) == record
