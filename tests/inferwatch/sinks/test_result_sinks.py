"""Detector/explainer results through the shared sinks, against the real dev-stack servers: merged into the logged
request's document in Elasticsearch and OpenSearch whatever the order, drift windows in their own index, a Kafka
results topic keyed by request id, the SQLite store and audit, and the spool when a sink is down."""

from __future__ import annotations

import argparse
import io
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer

from inferwatch import audit
from inferwatch.capture import Body, Exchange
from inferwatch.delivery.pipeline import DeliveryOptions
from inferwatch.delivery.publisher import ResultPublisher
from inferwatch.metrics import new_registry
from inferwatch.records import InferenceRecord
from inferwatch.results import ResultRecord, drift_id, per_request
from inferwatch.sinks import open_sink
from inferwatch.sinks.search import SearchSink
from inferwatch.sinks.sqlite import SQLiteSink
from inferwatch.stores.sqlite import SQLiteStore
from tests.inferwatch.sinks.sink_records import BUILDER, golden

ENGINES = [
    pytest.param("elasticsearch", marks=pytest.mark.elasticsearch),
    pytest.param("opensearch", marks=pytest.mark.opensearch),
]
ENVELOPE = {"namespace": "prod", "deployment": "iris", "endpoint": "default", "source": "iris-od"}
EXPLANATION = {"meta": {"name": "AnchorTabular", "type": ["blackbox"]}, "data": {"anchor": ["petal_width <= 0.8"]}}


def outlier(rid: str, items: int = 1, flags: list[int] | None = None) -> list[ResultRecord]:
    flags = flags or [1] * items
    body = {"data": {"is_outlier": flags, "instance_score": [0.5 + f for f in flags]}, "meta": {"name": "IForest"}}
    return per_request("outlier", body, rid, items, **ENVELOPE)


def explanation(rid: str) -> ResultRecord:
    return per_request("explanation", EXPLANATION, rid, 1, **{**ENVELOPE, "source": "iris-anchors"})[0]


def batch_of_three(rid: str) -> InferenceRecord:
    raw = orjson.dumps({"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]]}})
    ex = Exchange(
        request_id=rid,
        received_at=time.time(),
        request=Body(raw, "application/json", len(raw)),
        path="/api/v1.0/predictions",
        method="POST",
        status_code=200,
        **{k: v for k, v in ENVELOPE.items() if k != "source"},
    )
    return BUILDER.build(ex)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_sink(engine: str, request: pytest.FixtureRequest, unique_name: Callable[[str], str]) -> Iterator[Any]:
    """``make()`` -> a sink writing to ``<p>-...`` indices and ``dl<p>-...`` drift indices; all removed after."""
    p = unique_name("iwr")
    host = str(request.getfixturevalue(f"{engine}_url")).removeprefix("http://")
    uri = f"{engine}://{host}?index={p}-{{engine}}-{{namespace}}-{{deployment}}-{{endpoint}}&drift_index=dl{p}-{{deployment}}"
    made: list[SearchSink] = []

    def make(extra: str = "") -> SearchSink:
        sink = open_sink(uri + extra)
        assert isinstance(sink, SearchSink)
        made.append(sink)
        return sink

    make.uri = uri  # type: ignore[attr-defined]
    make.prefix = p  # type: ignore[attr-defined]
    yield make
    for s in made:
        s.close()
    cleaner = make()  # the made sinks may have been closed by a publisher
    client = cleaner.client
    for pattern in (f"{p}-*", f"dl{p}-*"):
        for name in client.indices.get(index=pattern):
            client.indices.delete(index=name)
    for name in (cleaner.template_name, cleaner.drift_template_name):
        if client.indices.exists_index_template(name=name):
            client.indices.delete_index_template(name=name)
    cleaner.close()


def get(sink: SearchSink, doc_id: str) -> dict[str, Any]:
    index = f"{make_prefix(sink)}-seldon-prod-iris-default"
    sink.client.indices.refresh(index=index)
    source: dict[str, Any] = sink.client.get(index=index, id=doc_id)["_source"]
    return source


def make_prefix(sink: SearchSink) -> str:
    return sink.index_pattern.removesuffix("-*")


def search(sink: SearchSink, query: dict[str, Any]) -> set[str]:
    sink.client.indices.refresh(index=sink.index_pattern)
    hits = sink.client.search(index=sink.index_pattern, body={"query": query, "_source": False, "size": 100})
    return {h["_id"] for h in hits["hits"]["hits"]}


def test_record_then_outlier_then_explanation_is_one_document(make_sink: Any) -> None:
    sink = make_sink()
    record = golden("mlserver_iris_single", request_id="one-1")
    sink.write([record])
    sink.write(outlier("one-1"))
    sink.write([explanation("one-1")])
    doc = get(sink, "one-1")
    assert doc["request"]["elements"] == record.instances[0]["request"]
    assert doc["outlier"]["data"]["is_outlier"] == [1] and doc["outlier"]["source"] == "iris-od"
    assert doc["explanation"]["meta"]["name"] == "AnchorTabular" and "created_at" in doc["explanation"]
    assert doc["@timestamp"] == record.to_dict()["received_at"]
    # the few mapped keys of results are searchable; explanation data is not mapped
    assert search(sink, {"term": {"outlier.data.is_outlier": 1}}) == {"one-1"}
    assert search(sink, {"term": {"explanation.meta.name": "AnchorTabular"}}) == {"one-1"}
    mapping = orjson.dumps(dict(sink.client.indices.get_mapping(index=sink.index_pattern))).decode()
    assert "anchor" not in mapping.replace("AnchorTabular", "")
    # a replayed record does not wipe the results merged into its document
    sink.write([record])
    again = get(sink, "one-1")
    assert again["outlier"] == doc["outlier"] and again["explanation"] == doc["explanation"]
    count = sink.client.count(index=sink.index_pattern)["count"]
    assert count == 1


def test_result_before_record_is_merged(make_sink: Any) -> None:
    sink = make_sink()
    sink.write([explanation("early-1"), *outlier("early-1")])
    first = get(sink, "early-1")
    assert first["RequestId"] == "early-1" and "request" not in first and first["outlier"]["data"]["is_outlier"] == [1]
    record = golden("mlserver_iris_single", request_id="early-1")
    sink.write([record])
    doc = get(sink, "early-1")
    assert doc["request"]["elements"] == record.instances[0]["request"]
    assert doc["@timestamp"] == record.to_dict()["received_at"]  # the record's envelope wins
    assert doc["outlier"] == first["outlier"] and doc["explanation"] == first["explanation"]


def test_batch_results_land_on_item_documents(make_sink: Any) -> None:
    sink = make_sink()
    record = batch_of_three("b3")
    sink.write([*outlier("b3", 3, [0, 1, 0])[:2]])  # two items before the record...
    sink.write([record])
    sink.write(outlier("b3", 3, [0, 1, 0])[2:])  # ...one after
    docs = {f"b3-item-{i}": get(sink, f"b3-item-{i}") for i in range(3)}
    assert [d["outlier"]["data"]["is_outlier"] for d in docs.values()] == [0, 1, 0]
    assert [d["request"]["elements"] for d in docs.values()] == [i["request"] for i in record.instances]
    assert search(sink, {"term": {"outlier.data.is_outlier": 1}}) == {"b3-item-1"}
    assert sink.client.count(index=sink.index_pattern)["count"] == 3


def test_drift_windows_go_to_the_drift_index(make_sink: Any) -> None:
    sink = make_sink()
    end = datetime.now(UTC)
    body = {"data": {"is_drift": 1, "p_val": [0.001, 0.2], "window_size": 50, "trigger": "count"}, "meta": {}}
    drift = ResultRecord(drift_id("iris-cd", end), "drift", body, created_at=end, **{**ENVELOPE, "source": "iris-cd"})
    sink.write([drift])
    sink.write([drift])  # a replay replaces it
    index = f"dl{make_prefix(sink)}-iris"
    sink.client.indices.refresh(index=index)
    hits = sink.client.search(index=index, body={"query": {"term": {"drift.data.is_drift": 1}}})["hits"]["hits"]
    assert [h["_id"] for h in hits] == [drift.id]
    assert hits[0]["_source"]["kind"] == "drift" and hits[0]["_source"]["source"] == "iris-cd"
    assert sink.client.indices.exists_index_template(name=sink.drift_template_name)


@pytest.mark.parametrize("client", ["kafka-python", pytest.param("confluent")])
@pytest.mark.kafka
def test_kafka_results_topic_keyed_by_request_id(kafka_bootstrap: str, kafka_topic: str, client: str) -> None:
    sink = open_sink(f"kafka://{kafka_bootstrap}?topic={kafka_topic}&client={client}")
    results = [*outlier("k-1", 2, [1, 0]), explanation("k-2")]
    sink.write(results)
    sink.close()
    consumer = KafkaConsumer(
        kafka_topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=10_000
    )
    got = []
    for m in consumer:
        got.append(m)
        if len(got) == len(results):
            break
    consumer.close()
    by_id = {orjson.loads(m.value)["id"]: m for m in got}
    assert {i: m.key for i, m in by_id.items()} == {r.id: r.key.encode() for r in results}
    assert by_id["k-1/outlier/0"].partition == by_id["k-1/outlier/1"].partition  # one request, one partition
    headers = dict(by_id["k-1/outlier/1"].headers)
    assert (headers["type"], headers["kind"], headers["requestid"]) == (b"io.inferwatch.result", b"outlier", b"k-1")
    assert orjson.loads(by_id["k-2/explanation"].value)["record_type"] == "result"


def test_kafka_results_never_go_to_the_records_topic() -> None:
    from inferwatch.sinks.kafka import KafkaSink, KafkaSinkConfig

    logger_sink = KafkaSink(KafkaSinkConfig(["127.0.0.1:1"]))
    assert logger_sink.topic_for(explanation("x")) == "inferwatch.results.prod.iris"
    assert logger_sink.topic_for(golden("seldon_ndarray")) == "inferwatch.records.prod.iris"


def test_sqlite_keeps_results_and_audit_shows_them(tmp_path: Path) -> None:
    store = SQLiteSink(tmp_path / "iw.db")
    store.write([batch_of_three("a-1")])
    store.write([*outlier("a-1", 3, [0, 0, 1]), *outlier("a-1", 3, [0, 0, 1])])  # replayed: upserted
    store.write([explanation("orphan-1")])
    store.close()
    reader = SQLiteStore(tmp_path / "iw.db")
    assert [r.item for r in reader.results_for(["a-1"])] == [0, 1, 2]
    reader.close()
    args = argparse.Namespace(
        store=f"sqlite:///{tmp_path / 'iw.db'}",
        request_id="a-1",
        model=None,
        since=None,
        until=None,
        flag=None,
        limit=20,
        json=False,
        verbose=False,
    )
    out = io.StringIO()
    audit.run(args, out)
    text = out.getvalue()
    assert "[2] outlier by iris-od" in text and '"is_outlier":1' in text and "1 record(s), 3 result(s)" in text
    out = io.StringIO()
    audit.run(argparse.Namespace(**{**vars(args), "json": True, "request_id": "orphan-1"}), out)
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [(d["record_type"], d["kind"]) for d in lines] == [("result", "explanation")]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _value(registry: Any, name: str, **labels: str) -> float:
    return float(registry.get_sample_value(name, labels) or 0.0)


def test_dead_search_node_spools_then_replays_after_restart(make_sink: Any, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    opts = DeliveryOptions(spool_dir=spool, max_retries=0, retry_backoff=0.01, shutdown_timeout=2.0, probe_max=0.05)
    engine = make_sink.uri.split(":", 1)[0]
    dead_uri = f"{engine}://127.0.0.1:{_closed_port()}?" + make_sink.uri.split("?", 1)[1] + "&request_timeout=1"
    registry = new_registry()
    down = ResultPublisher([open_sink(dead_uri)], registry, opts, source="detector").start()
    results = [r for i in range(5) for r in outlier(f"sp-{i}")]
    assert down.publish_all(results) == 5
    down.close()  # shutdown with the node still down: everything stays spooled
    assert _value(registry, "inferwatch_records_received_total", source="detector") == 5
    assert _value(registry, "inferwatch_sink_records_written_total", sink=engine) == 0
    assert _value(registry, "inferwatch_records_dropped_total", sink=engine, reason="sink_error") == 0

    registry = new_registry()
    up = ResultPublisher([make_sink()], registry, opts, source="detector").start()  # the restarted service
    deadline = time.monotonic() + 60
    while _value(registry, "inferwatch_spool_replayed_total", sink=engine) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    up.close()
    assert _value(registry, "inferwatch_spool_replayed_total", sink=engine) == 5
    sink = make_sink()
    assert search(sink, {"term": {"outlier.data.is_outlier": 1}}) == {f"sp-{i}" for i in range(5)}


def single(rid: str) -> InferenceRecord:
    raw = orjson.dumps({"data": {"ndarray": [[5.9, 3.0, 5.1, 1.8]]}})
    ex = Exchange(
        request_id=rid,
        received_at=time.time(),
        request=Body(raw, "application/json", len(raw)),
        path="/api/v1.0/predictions",
        method="POST",
        status_code=200,
        **{k: v for k, v in ENVELOPE.items() if k != "source"},
    )
    return BUILDER.build(ex)


def _audit(store: str, **kw: Any) -> tuple[str, list[dict[str, Any]]]:
    args = {"store": store, "request_id": None, "model": None, "since": None, "until": None, "flag": None}
    args |= {"limit": 20, "json": False, "verbose": False, **kw}
    out = io.StringIO()
    assert audit.run(argparse.Namespace(**args), out) == 0
    text = out.getvalue()
    return text, [orjson.loads(line) for line in text.splitlines()] if args["json"] else []


def _write_flagged_traffic(sink: Any) -> dict[str, InferenceRecord]:
    """a-1: a batch whose third instance is an outlier; b-1: a batch without outliers; c-1: one outlier."""
    records = {"a-1": batch_of_three("a-1"), "b-1": batch_of_three("b-1"), "c-1": single("c-1")}
    sink.write(list(records.values()))
    sink.write([*outlier("a-1", 3, [0, 0, 1]), *outlier("b-1", 3, [0, 0, 0]), *outlier("c-1", 1, [1])])
    sink.write([explanation("c-1")])
    return records


def test_audit_flag_outlier_on_the_embedded_store(tmp_path: Path) -> None:
    store = SQLiteSink(tmp_path / "iw.db")
    _write_flagged_traffic(store)
    store.close()
    _, lines = _audit(f"sqlite:///{tmp_path / 'iw.db'}", flag="outlier", json=True)
    assert sorted(d["id"] for d in lines) == ["a-1", "c-1"]


def test_audit_searches_the_search_engine_documents(make_sink: Any) -> None:
    sink = make_sink()
    records = _write_flagged_traffic(sink)
    uri = make_sink.uri

    _, lines = _audit(uri, request_id="a-1", json=True)
    record, *results = lines
    assert record["id"] == "a-1" and record["instances"] == records["a-1"].to_dict()["instances"]
    assert record["request"]["raw"] == records["a-1"].request.raw  # type: ignore[union-attr]
    assert [(r["kind"], r["item"], r["body"]["data"]["is_outlier"]) for r in results] == [
        ("outlier", 0, 0),
        ("outlier", 1, 0),
        ("outlier", 2, 1),
    ]
    text, _ = _audit(uri, request_id="c-1")
    assert "c-1" in text and "outlier by iris-od" in text and "explanation by iris-anchors" in text

    _, flagged = _audit(uri, flag="outlier", json=True)
    assert sorted(d["id"] for d in flagged if d.get("record_type") != "result") == ["a-1", "c-1"]
    _, recent = _audit(uri, since=audit.parse_time("1h"), json=True)
    assert sorted(d["id"] for d in recent) == ["a-1", "b-1", "c-1"]
    _, old = _audit(uri, until=audit.parse_time("1h"), json=True)
    assert old == []
    _, one = _audit(uri, limit=1, json=True)
    assert len(one) == 1
