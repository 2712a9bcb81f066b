"""CloudEvents mode with recorded Seldon-executor and KServe-logger events (tests/testdata/cloudevents)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from inferwatch.stores import RecordQuery
from inferwatch.stores.sqlite import SQLiteStore

DATA = Path(__file__).parents[1] / "testdata" / "cloudevents"


def _event(name: str, **header_overrides: str) -> tuple[dict[str, str], bytes]:
    doc: dict[str, Any] = json.loads((DATA / name).read_text())
    headers = {**doc["headers"], **header_overrides}
    return headers, orjson.dumps(doc["body"])


def _post(url: str, name: str, **overrides: str) -> httpx.Response:
    headers, body = _event(name, **overrides)
    return httpx.post(url + "/", content=body, headers=headers)


def test_seldon_halves_in_order_are_paired(run_logger) -> None:
    with run_logger() as lg:
        assert _post(lg.url, "seldon_executor_request.json").status_code == 200
        assert _post(lg.url, "seldon_executor_response.json").status_code == 200
        rec = lg.wait_record("a1b2c3d4-0001")
    assert rec.source == "cloudevents" and rec.flags == []
    assert rec.model_name == "classifier" and rec.deployment == "iris"
    assert rec.namespace == "seldon" and rec.endpoint == "default" and rec.protocol == "seldon"
    assert rec.feature_names == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert len(rec.instances) == 2
    assert rec.instances[1]["request"]["petal_length"] == 5.2
    assert rec.instances[1]["response"]["t:2"] == 0.98
    assert rec.tags["ce_type"] == "io.seldon.serving.inference.request"


def test_kserve_halves_out_of_order_are_paired(run_logger) -> None:
    with run_logger() as lg:
        assert _post(lg.url, "kserve_response.json").status_code == 200
        assert _post(lg.url, "kserve_request.json").status_code == 200
        rec = lg.wait_record("5d2bd1b5-8c4f-4f6e-9a39-7d6d0e2b4f11")
    assert rec.flags == [] and rec.protocol == "kserve-v1"
    assert rec.deployment == "sklearn-iris" and rec.namespace == "kserve-test"
    assert rec.tags["component"] == "predictor" and rec.tags["metadata"] == {"team": ["fraud"]}
    assert orjson.loads(rec.request.raw)["instances"][0] == [6.8, 2.8, 4.8, 1.4]
    assert orjson.loads(rec.response.raw) == {"predictions": [1, 1]}
    assert len(rec.instances) == 2


def test_structured_mode_event_is_accepted(run_logger) -> None:
    with run_logger(pairing_ttl=0.3) as lg:
        r = _post(lg.url, "structured_v2_request.json")
        assert r.status_code == 200, r.text
        rec = lg.wait_record("v2-structured-1")
    assert rec.protocol == "v2" and rec.model_name == "income" and "partial" in rec.flags
    assert rec.instances[0]["request"] == {"age": 39, "workclass": "State-gov"}


def test_missing_partner_becomes_partial_after_ttl(run_logger) -> None:
    with run_logger(pairing_ttl=0.5) as lg:
        start = time.monotonic()
        assert _post(lg.url, "seldon_executor_request.json", **{"Ce-Requestid": "lonely-1"}).status_code == 200
        rec = lg.wait_record("lonely-1")
        assert time.monotonic() - start >= 0.5
        assert lg.metric("inferwatch_logger_pairing_timeouts_total", missing="response") == 1
    assert "partial" in rec.flags and rec.request is not None and rec.response is None


def test_pending_halves_are_written_on_shutdown(run_logger) -> None:
    with run_logger(pairing_ttl=3600) as lg:
        assert _post(lg.url, "kserve_response.json", **{"Ce-Id": "shutdown-1"}).status_code == 200
        store, service = lg.store, lg.service
    # the context stopped the server (flushing pending halves) and drained the pipeline
    reopened = SQLiteStore(store.path)
    rec = reopened.query(RecordQuery(request_id="shutdown-1"))
    reopened.close()
    assert rec and "partial" in rec[0].flags and rec[0].response is not None
    assert service.registry.get_sample_value("inferwatch_logger_pairing_timeouts_total", {"missing": "request"}) == 1


def test_malformed_events_get_400_with_the_reason(run_logger) -> None:
    with run_logger() as lg:
        headers, body = _event("seldon_executor_request.json")
        no_type = {k: v for k, v in headers.items() if k != "Ce-Type"}
        r = httpx.post(lg.url + "/", content=body, headers=no_type)
        assert r.status_code == 400 and "type" in r.json()["error"]["message"].lower()
        r = httpx.post(lg.url + "/", content=b"{not json", headers={"Content-Type": "application/cloudevents+json"})
        assert r.status_code == 400 and r.json()["error"]["message"]
        r = _post(lg.url, "seldon_executor_request.json", **{"Ce-Type": "com.example.unknown"})
        assert r.status_code == 400 and "com.example.unknown" in r.json()["error"]["message"]
        assert lg.metric("inferwatch_logger_events_total", kind="unknown", outcome="rejected") == 3
        time.sleep(0.2)
        assert lg.store.count() == 0


def test_skip_logging_drops_both_halves(run_logger) -> None:
    with run_logger(pairing_ttl=0.3) as lg:
        skip = {"Seldon-Skip-Logging": "true", "Ce-Requestid": "skipped-1"}
        assert _post(lg.url, "seldon_executor_request.json", **skip).status_code == 200
        assert _post(lg.url, "seldon_executor_response.json", **{"Ce-Requestid": "skipped-1"}).status_code == 200
        assert _post(lg.url, "seldon_executor_request.json", **{"Ce-Requestid": "kept-1"}).status_code == 200
        lg.wait_record("kept-1")  # after its TTL, as partial
        time.sleep(0.5)
        ids = [r.id for r in lg.store.query(RecordQuery())]
    assert ids == ["kept-1"]
