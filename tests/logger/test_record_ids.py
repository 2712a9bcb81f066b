"""No exchange replaces another's record: graph nodes sharing a request id, repeated ids, re-sent halves.

Against the real logger (proxy and CloudEvents receiver) writing to a real embedded store; the store is read
back through ``inferwatch.stores``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from inferwatch.capture import Body, Exchange
from inferwatch.demo.model_server import create_model_app, train_iris
from inferwatch.logger.collisions import RecordIds
from inferwatch.logger.metrics import LoggerMetrics
from inferwatch.pairing import Half, Pairer
from inferwatch.records import REQUEST_ID_TAG, InferenceRecord
from inferwatch.stores import RecordQuery
from tests.servers import serving

DATA = Path(__file__).parents[1] / "testdata" / "cloudevents"
SELDON = {"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}


def _event(name: str, **overrides: str) -> tuple[dict[str, str], bytes]:
    doc: dict[str, Any] = json.loads((DATA / name).read_text())
    return {**doc["headers"], **overrides}, orjson.dumps(doc["body"])


def _post(url: str, name: str, **overrides: str) -> None:
    headers, body = _event(name, **overrides)
    assert httpx.post(url + "/", content=body, headers=headers).status_code == 200


def _records_of(lg: Any, request_id: str, n: int, timeout: float = 10.0) -> list[InferenceRecord]:
    """The ``n`` records stored for ``request_id`` (its own and its nodes'/collisions'), oldest first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = lg.store.query(RecordQuery(request_id=request_id, limit=50))
        if len(found) >= n:
            return sorted(found, key=lambda r: r.received_at)
        time.sleep(0.05)
    raise AssertionError(f"{n} records for {request_id} not stored within {timeout}s")


# --- the pieces -------------------------------------------------------------------------------------------------


def _exchange(rid: str, **kw: Any) -> Exchange:
    return Exchange(request_id=rid, received_at=time.time(), **kw)


def test_a_repeated_id_gets_a_suffix_and_keeps_the_id_it_came_with() -> None:
    metrics = LoggerMetrics(CollectorRegistry())
    ids = RecordIds(window=3, collisions=metrics.id_collisions)
    first, again = _exchange("r1"), _exchange("r1")
    assert ids.claim(first) == "r1" and not first.collision
    suffixed = ids.claim(again)
    assert suffixed.startswith("r1~") and again.collision and again.tags[REQUEST_ID_TAG] == "r1"
    assert ids.claim(_exchange("r1")) not in ("r1", suffixed)  # a third one differs from both
    for rid in ("a", "b", "c"):  # the window is bounded: r1 falls out of it
        ids.claim(_exchange(rid))
    assert len(ids) == 3 and ids.claim(_exchange("r1")) == "r1"


def _half(kind: str, rid: str, node: str | None, *, component: str | None = None) -> Half:
    tags: dict[str, Any] = {"component": component} if component else {}
    template = _exchange(rid, source="cloudevents", model_name=node, tags=tags)
    return Half(kind, Body(raw=b"{}", content_type="application/json", size=2), time.time(), template)


def test_pairing_is_per_request_and_node() -> None:
    emitted: list[Exchange] = []
    metrics = LoggerMetrics(CollectorRegistry())
    pairer = Pairer(30, emitted.append, metrics.pairing)
    # a Seldon transformer and model log one request: requests in graph order, responses the other way round
    pairer.add(_half("request", "r", "transformer"))
    pairer.add(_half("request", "r", "model"))
    pairer.add(_half("response", "r", "model"))
    pairer.add(_half("response", "r", "transformer"))
    assert [(e.request_id, e.model_name, e.partial) for e in emitted] == [
        ("r", "model", False),
        ("r@transformer", "transformer", False),
    ]
    assert emitted[1].tags[REQUEST_ID_TAG] == "r" and len(pairer) == 0
    # KServe: the same event id, told apart by component
    pairer.add(_half("request", "k", None, component="transformer"))
    pairer.add(_half("request", "k", None, component="predictor"))
    pairer.add(_half("response", "k", None, component="predictor"))
    pairer.add(_half("response", "k", None, component="transformer"))
    assert [e.request_id for e in emitted[2:]] == ["k", "k@transformer"]


def test_a_second_half_of_the_same_kind_does_not_replace_the_first() -> None:
    emitted: list[Exchange] = []
    metrics = LoggerMetrics(CollectorRegistry())
    pairer = Pairer(30, emitted.append, metrics.pairing)
    pairer.add(_half("request", "r", "m"))
    pairer.add(_half("request", "r", "m"))
    assert [(e.request_id, e.partial) for e in emitted] == [("r", True)]  # the first, written at once
    pairer.add(_half("response", "r", "m"))
    assert [e.partial for e in emitted] == [True, False] and len(pairer) == 0
    assert metrics.pairing.superseded.labels("request")._value.get() == 1


# --- through the real servers -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iris_url() -> Iterator[str]:
    with serving(create_model_app(train_iris())) as url:
        yield url


def test_seldon_graph_nodes_sharing_a_request_id_are_all_kept(run_logger) -> None:
    rid = {"Ce-Requestid": "graph-1"}
    with run_logger() as lg:
        _post(lg.url, "seldon_executor_request.json", **rid, **{"Ce-Modelid": "transformer"})
        _post(lg.url, "seldon_executor_request.json", **rid)  # Ce-Modelid: classifier
        _post(lg.url, "seldon_executor_response.json", **rid)
        _post(lg.url, "seldon_executor_response.json", **rid, **{"Ce-Modelid": "transformer"})
        records = _records_of(lg, "graph-1", 2)
    by_id = {r.id: r for r in records}
    assert set(by_id) == {"graph-1", "graph-1@transformer"}
    assert by_id["graph-1"].model_name == "classifier" and by_id["graph-1@transformer"].model_name == "transformer"
    assert by_id["graph-1@transformer"].tags[REQUEST_ID_TAG] == "graph-1"
    assert all(r.flags == [] and r.request is not None and r.response is not None for r in records)


def test_kserve_transformer_and_predictor_sharing_an_event_id_are_both_kept(run_logger) -> None:
    same = {"Ce-Id": "kserve-graph-1"}
    with run_logger() as lg:
        _post(lg.url, "kserve_request.json", **same, **{"Ce-Component": "transformer"})
        _post(lg.url, "kserve_request.json", **same)  # Ce-Component: predictor
        _post(lg.url, "kserve_response.json", **same)
        _post(lg.url, "kserve_response.json", **same, **{"Ce-Component": "transformer"})
        records = _records_of(lg, "kserve-graph-1", 2)
    assert sorted((r.id, r.tags["component"]) for r in records) == [
        ("kserve-graph-1", "predictor"),
        ("kserve-graph-1@transformer", "transformer"),
    ]


def test_a_half_sent_again_after_its_pair_was_written_does_not_replace_the_record(run_logger) -> None:
    rid = {"Ce-Requestid": "resent-1"}
    with run_logger(pairing_ttl=0.3) as lg:
        _post(lg.url, "seldon_executor_request.json", **rid)
        _post(lg.url, "seldon_executor_response.json", **rid)
        complete = lg.wait_record("resent-1")
        _post(lg.url, "seldon_executor_request.json", **rid)  # the executor retried the request event
        records = _records_of(lg, "resent-1", 2)
        assert lg.metric("inferwatch_logger_id_collisions_total") == 1
        kept = lg.store.get("resent-1")
    again = next(r for r in records if r.id != "resent-1")
    assert complete.flags == [] and kept is not None and kept.flags == []  # still the complete record
    assert again.id.startswith("resent-1~") and set(again.flags) == {"partial", "collision"}
    assert again.tags[REQUEST_ID_TAG] == "resent-1"


def test_a_client_reusing_a_request_id_gets_a_second_record(run_logger, iris_url: str) -> None:
    with run_logger(upstream=iris_url) as lg:
        for value in (5.1, 6.7):
            body = {"data": {"ndarray": [[value, 3.0, 1.4, 0.2]]}}
            r = httpx.post(lg.url + "/api/v1.0/predictions", json=body, headers={"x-request-id": "reused-1"})
            assert r.status_code == 200 and r.headers["x-request-id"] == "reused-1"
        records = _records_of(lg, "reused-1", 2)
    first, second = records
    assert first.id == "reused-1" and first.flags == []
    assert second.id.startswith("reused-1~") and "collision" in second.flags
    assert [next(iter(r.instances[0]["request"].values())) for r in records] == [5.1, 6.7]


def test_loggers_of_several_nodes_name_their_records_by_node(run_logger, iris_url: str) -> None:
    with run_logger(upstream=iris_url, node="predictor") as lg:
        r = httpx.post(lg.url + "/api/v1.0/predictions", json=SELDON, headers={"x-request-id": "n-1"})
        assert r.status_code == 200 and r.headers["x-request-id"] == "n-1"
        (rec,) = _records_of(lg, "n-1", 1)
    assert rec.id == "n-1@predictor" and rec.tags[REQUEST_ID_TAG] == "n-1" and rec.flags == []
