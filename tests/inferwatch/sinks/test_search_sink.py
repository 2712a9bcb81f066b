"""The Elasticsearch / OpenSearch sink against the real dev-stack nodes (one implementation, both engines):
documents and ids, Seldon index names, the index template and its mapping guard, retries and replays."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from inferwatch.capture import Body, Exchange
from inferwatch.errors import ConfigError, SinkError
from inferwatch.metrics import new_registry
from inferwatch.records import InferenceRecord
from inferwatch.sinks import open_sink
from inferwatch.sinks.base import SinkURI
from inferwatch.sinks.search import SearchSink, SearchSinkConfig
from inferwatch.sinks.search_docs import MAX_FLAT_CHARS, documents
from tests.inferwatch.sinks.sink_records import BUILDER, batch, deep_record, golden
from tests.inferwatch.sinks.through_worker import deliver, dropped, metric, worker

ENGINES = [
    pytest.param("elasticsearch", marks=pytest.mark.elasticsearch),
    pytest.param("opensearch", marks=pytest.mark.opensearch),
]
FLAT_TYPE = {"elasticsearch": "flattened", "opensearch": "flat_object"}


# --- configuration and documents, no server needed -----------------------------------------------------


def test_uri_options(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----")
    cfg = SearchSinkConfig.from_uri(
        SinkURI.parse(
            f"elasticsearch://elastic:s%3Acret@es1:9201,es2?scheme=https&ca_certs={ca}&verify_certs=false"
            "&chunk_size=100&max_retries=2&initial_backoff=0.1&bodies=none&index=logs-{model}&replicas=1"
        )
    )
    assert cfg.urls == ["https://es1:9201", "https://es2:9200"]
    assert (cfg.username, cfg.password, cfg.ca_certs, cfg.verify_certs) == ("elastic", "s:cret", str(ca), False)
    assert (cfg.chunk_size, cfg.max_retries, cfg.initial_backoff, cfg.bodies) == (100, 2, 0.1, "none")
    assert (cfg.index, cfg.replicas) == ("logs-{model}", 1)

    sink = SearchSink(cfg)
    assert sink.index_pattern == "logs-*" and sink.template_name == "inferwatch-logs"
    assert sink.template()["template"]["settings"]["number_of_replicas"] == 1
    sink.close()


@pytest.mark.parametrize(
    "uri",
    [
        "elasticsearch://h:1?idx=x",  # unknown option
        "elasticsearch://h:1?ca_certs=/ca.pem",  # TLS file without https
        "elasticsearch://h:1?scheme=ftp",
        "elasticsearch://h:1?index=Inference-{model}",  # upper case
        "elasticsearch://h:1?index={model}-logs",  # no literal prefix for the template pattern
        "elasticsearch://h:1?index=logs-{tenant}",
        "elasticsearch://h:1?bodies=some",
        "elasticsearch://h:1?verify_certs=maybe",
        "opensearch://h:1?api_key=abc",
        "opensearch://",
        "opensearch://h:1?scheme=https&ca_certs=/nonexistent/ca.pem",
    ],
)
def test_bad_uris_are_config_errors(uri: str) -> None:
    with pytest.raises(ConfigError):
        open_sink(uri)


def test_seldon_index_names() -> None:
    sink = SearchSink(SearchSinkConfig("elasticsearch", ["127.0.0.1:1"]))
    assert sink.index_for(golden("seldon_ndarray")) == "inference-log-seldon-prod-iris-default"
    kserve = golden("mlserver_iris_single", tags={"event_format": "kserve"}, namespace="Team_A")
    assert sink.index_for(kserve) == "inference-log-inferenceservice-team_a-iris-default"
    bare = golden("seldon_ndarray", namespace=None, deployment=None, endpoint=None)
    assert sink.index_for(bare) == "inference-log-seldon-unknown-namespace-unknown-inferenceservice-unknown-endpoint"
    sink.close()


def test_documents_one_per_instance_bodies_on_the_first() -> None:
    rec = golden("seldon_ndarray", request_id="abc")  # a batch of two iris rows
    docs = dict(documents(rec))
    assert list(docs) == ["abc-item-0", "abc-item-1"]
    first, second = docs["abc-item-0"], docs["abc-item-1"]
    assert (first["item"], second["item"], second["items"]) == (0, 1, 2)
    assert second["request"]["elements"] == rec.instances[1]["request"]
    assert second["response"]["elements"] == rec.instances[1]["response"]
    assert "raw" in first["request"] and "decoded" in first["response"]
    assert "raw" not in second["request"] and "decoded" not in second["response"]
    assert second["request"]["size"] == first["request"]["size"] == rec.request.size  # type: ignore[union-attr]
    assert "instances" not in first
    for doc in docs.values():
        assert doc["RequestId"] == doc["id"] == "abc"
        assert doc["@timestamp"] == doc["received_at"]
        assert (doc["ServingEngine"], doc["Ce-Namespace"], doc["Ce-Inferenceservicename"]) == ("seldon", "prod", "iris")

    assert all("raw" in d["request"] for _, d in documents(rec, "all"))
    assert not any("raw" in d["request"] for _, d in documents(rec, "none"))
    single = dict(documents(golden("mlserver_iris_single", request_id="one")))
    assert list(single) == ["one"] and single["one"]["items"] == 1
    empty = InferenceRecord(id="partial-1", received_at=rec.received_at, flags=["partial"])
    assert [(i, d["items"], d["request"]) for i, d in documents(empty)] == [("partial-1", 0, None)]


# --- against the real nodes ----------------------------------------------------------------------------


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def engine_url(engine: str, request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{engine}_url"))


@pytest.fixture
def prefix(unique_name: Callable[[str], str]) -> str:
    return unique_name("iw")


@pytest.fixture
def make_sink(engine: str, engine_url: str, prefix: str) -> Iterator[Callable[..., SearchSink]]:
    """Sinks writing to ``<prefix>-...`` indices; the indices and the template are removed afterwards."""
    made: list[SearchSink] = []

    def make(**options: str) -> SearchSink:
        opts = {"index": prefix + "-{engine}-{namespace}-{deployment}-{endpoint}", **options}
        host = engine_url.removeprefix("http://")
        sink = open_sink(f"{engine}://{host}?" + "&".join(f"{k}={v}" for k, v in opts.items()))
        assert isinstance(sink, SearchSink)
        made.append(sink)
        return sink

    yield make
    if made:
        client = made[0].client
        for name in client.indices.get(index=f"{prefix}-*"):
            client.indices.delete(index=name)
        if client.indices.exists_index_template(name=made[0].template_name):  # not with template=skip
            client.indices.delete_index_template(name=made[0].template_name)
    for s in made:
        s.close()


def refresh(sink: SearchSink, prefix: str) -> None:
    sink.client.indices.refresh(index=f"{prefix}-*")


def hit_ids(sink: SearchSink, prefix: str, query: dict[str, Any]) -> set[str]:
    body = {"query": query, "size": 1000, "_source": False}
    resp = sink.client.search(index=f"{prefix}-*", body=body)
    return {h["_id"] for h in resp["hits"]["hits"]}


def all_ids(sink: SearchSink, prefix: str) -> tuple[int, set[str]]:
    refresh(sink, prefix)
    count = int(sink.client.count(index=f"{prefix}-*")["count"])
    return count, hit_ids(sink, prefix, {"match_all": {}})


def expected_ids(records: list[InferenceRecord]) -> set[str]:
    return {doc_id for r in records for doc_id, _ in documents(r)}


def test_happy_path_documents_names_and_searchable_fields(
    engine: str, make_sink: Callable[..., SearchSink], prefix: str
) -> None:
    sink = make_sink()
    records = [
        golden("seldon_ndarray", request_id="nd-1"),  # batch of 2 -> nd-1-item-0, nd-1-item-1
        golden("mlserver_iris_single", request_id="v2-1", tags={"event_format": "kserve"}),
        golden("seldon_strdata", request_id="str-1"),
        golden("seldon_wrong_shape", request_id="bad-1"),  # the model answered 500
        InferenceRecord(id="partial-1", received_at=golden("seldon_ndarray").received_at, flags=["partial"]),
    ]
    sink.write(records)
    assert sink.health().ok

    count, ids = all_ids(sink, prefix)
    assert ids == {"nd-1-item-0", "nd-1-item-1", "v2-1", "str-1", "bad-1", "partial-1"}
    assert count == len(ids)
    indices = set(sink.client.indices.get(index=f"{prefix}-*"))
    assert indices == {
        f"{prefix}-seldon-prod-iris-default",
        f"{prefix}-inferenceservice-prod-iris-default",
        f"{prefix}-seldon-unknown-namespace-unknown-inferenceservice-unknown-endpoint",
    }

    # the fields an audit searches by are mapped as keyword / date / numbers
    assert hit_ids(sink, prefix, {"term": {"id": "nd-1"}}) == {"nd-1-item-0", "nd-1-item-1"}
    assert hit_ids(sink, prefix, {"term": {"RequestId": "v2-1"}}) == {"v2-1"}
    assert hit_ids(sink, prefix, {"term": {"model_name": "iris"}}) == {"v2-1"}
    assert hit_ids(sink, prefix, {"term": {"flags": "partial"}}) == {"partial-1"}
    assert hit_ids(sink, prefix, {"range": {"status_code": {"gte": 500}}}) == {"bad-1"}
    assert hit_ids(sink, prefix, {"term": {"ServingEngine": "inferenceservice"}}) == {"v2-1"}
    t = records[0].received_at.isoformat()
    assert "nd-1-item-0" in hit_ids(sink, prefix, {"range": {"@timestamp": {"gte": t, "lte": "now"}}})
    # per-instance rows through the flattened field, one field whatever the feature names
    assert hit_ids(sink, prefix, {"term": {"request.elements.petal_length": "5.2"}}) == {"nd-1-item-1"}
    assert hit_ids(sink, prefix, {"term": {"response.elements.predict": "0"}}) == {"v2-1"}

    doc = sink.client.get(index=f"{prefix}-seldon-prod-iris-default", id="nd-1-item-1")["_source"]
    assert doc["request"]["elements"] == records[0].instances[1]["request"]
    assert doc["items"] == 2 and "raw" not in doc["request"]
    first = sink.client.get(index=f"{prefix}-seldon-prod-iris-default", id="nd-1-item-0")["_source"]
    assert first["request"]["decoded"] == records[0].request.decoded  # type: ignore[union-attr]

    mapping = sink.client.indices.get_mapping(index=f"{prefix}-seldon-prod-iris-default")
    props = next(iter(mapping.values()))["mappings"]["properties"]
    assert props["request"]["properties"]["elements"]["type"] == FLAT_TYPE[engine]
    assert props["request"]["properties"]["decoded"].get("enabled") is False
    assert props["id"]["type"] == "keyword" and props["@timestamp"]["type"] == "date"


def test_retried_and_replayed_batches_never_duplicate(make_sink: Callable[..., SearchSink], prefix: str) -> None:
    records = [*batch(40), *batch(10, name="mlserver_iris_single", prefix="single")]
    sink = make_sink(chunk_size="17")  # several bulk requests per batch
    sink.write(records)
    sink.write(records)  # the worker retrying the same batch
    sink.write(records[5:25])  # a partial overlap
    replay = make_sink(chunk_size="500")  # a restarted logger replaying its spool: template re-put, same ids
    replay.write(list(reversed(records)))

    count, ids = all_ids(sink, prefix)
    want = expected_ids(records)
    assert len(want) == 40 * 2 + 10
    assert count == len(want)
    assert ids == want


def test_feature_names_do_not_grow_the_mapping(engine: str, make_sink: Callable[..., SearchSink], prefix: str) -> None:
    names = [f"pixel_{i:04d}" for i in range(1500)]
    request = {"data": {"names": names, "ndarray": [[i % 7 for i in range(1500)]]}}
    long_text = "x" * (MAX_FLAT_CHARS + 5000)
    text = {"data": {"names": ["text"], "ndarray": [[long_text]]}}
    t0 = time.time()
    wide, texty = (
        BUILDER.build(
            Exchange(
                request_id=rid,
                received_at=t0,
                request=Body(raw, "application/json", len(raw)),
                path="/api/v1.0/predictions",
                namespace="prod",
                deployment="wide",
                endpoint="default",
            )
        )
        for rid, raw in (("wide-1", orjson.dumps(request)), ("text-1", orjson.dumps(text)))
    )
    assert len(wide.instances[0]["request"]) == 1500
    sink = make_sink(total_fields_limit="200")  # far fewer fields than features: dynamic mapping would fail
    sink.write([wide, texty])

    count, ids = all_ids(sink, prefix)
    assert (count, ids) == (2, {"wide-1", "text-1"})
    mapping = json.dumps(dict(sink.client.indices.get_mapping(index=f"{prefix}-*")))
    assert "pixel_" not in mapping
    assert hit_ids(sink, prefix, {"term": {"request.elements.pixel_1499": str(1499 % 7)}}) == {"wide-1"}
    stored = sink.client.get(index=f"{prefix}-seldon-prod-wide-default", id="text-1")["_source"]
    assert stored["request"]["elements"]["text"] == long_text[:MAX_FLAT_CHARS]
    assert long_text in stored["request"]["raw"]  # the body keeps the whole value


def test_unserialisable_record_is_indexed_reduced_beside_its_batch(
    engine: str, make_sink: Callable[..., SearchSink], prefix: str
) -> None:
    reader = make_sink()
    good = [*batch(5), *batch(5, prefix="more")]
    reg = deliver(make_sink(), [*good[:5], deep_record("deep"), *good[5:]])
    count, ids = all_ids(reader, prefix)
    assert ids == expected_ids(good) | {"deep"} and count == len(ids)
    doc = reader.client.get(index=f"{prefix}-seldon-prod-iris-default", id="deep")["_source"]
    assert doc["flags"] == ["reduced"] and doc["items"] == 0
    assert doc["request"]["raw"].startswith('{"data": {"ndarray": [[[') and doc["request"].get("decoded") is None
    assert hit_ids(reader, prefix, {"term": {"flags": "reduced"}}) == {"deep"}
    assert dropped(reg) == 0
    assert metric(reg, "inferwatch_sink_records_written_total", sink=engine) == 11


def test_a_record_the_mapping_refuses_is_dropped_alone_and_counted(
    engine: str, make_sink: Callable[..., SearchSink], prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    reader = make_sink()
    good = batch(5)
    bad = golden("seldon_ndarray", request_id="bad-latency")
    bad.latency_ms = "fast"  # type: ignore[assignment]  # what a buggy producer of records could send
    reg = deliver(make_sink(), [*good[:2], bad, *good[2:]])
    _, ids = all_ids(reader, prefix)
    assert ids == expected_ids(good)
    assert metric(reg, "inferwatch_records_dropped_total", sink=engine, reason="unwritable") == 1
    assert dropped(reg) == 1 and metric(reg, "inferwatch_sink_blocked", sink=engine, reason="mapping") == 0
    assert "bad-latency" in caplog.text and "latency_ms" in caplog.text


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Until ``check()`` holds; an engine error meanwhile (a new index whose shards are not active yet answers
    a search with 503) counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
            last = "not yet"
        except Exception as e:
            last = repr(e)
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {last}"
        time.sleep(0.05)


def blocked_then_delivered(
    engine: str,
    reader: SearchSink,
    sink: SearchSink,
    prefix: str,
    spool: Path,
    reason: str,
    remedy: str,
    fix: Callable[[], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Offer 10 records to a worker whose sink is refused for ``reason``: nothing is dropped, all is spooled, the
    gauge, the health and one log line say what to do (``remedy``); after ``fix`` everything is delivered."""
    reg = new_registry()
    w = worker(sink, reg, spool)
    w.start()
    records = batch(10, prefix="blocked")
    try:
        for r in records:
            assert w.offer(r)
        wait_for(
            "the blocked gauge", lambda: metric(reg, "inferwatch_sink_blocked", sink=engine, reason=reason) == 1, 90
        )
        wait_for("the records in the spool", lambda: w.backlog()[0] == len(records))
        assert dropped(reg) == 0
        health = w.health()
        assert not health.ok and remedy in health.detail, health.detail
        time.sleep(1.0)  # several probes of the blocked sink
        assert caplog.text.count(remedy) == 1, "the remedy is logged once, not per batch"
    finally:
        fix()
    wait_for("the spooled records indexed", lambda: len(all_ids(reader, prefix)[1] & expected_ids(records)) == 20)
    w.stop(20.0)
    assert dropped(reg) == 0
    assert metric(reg, "inferwatch_sink_blocked", sink=engine, reason=reason) == 0
    assert w.backlog() == (0, 0)


def test_template_conflict_keeps_records_spooled_until_removed(
    engine: str, make_sink: Callable[..., SearchSink], prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reader = make_sink()
    other = f"{prefix}-other-tool"
    put_template(engine, reader, other, [reader.index_pattern], priority=100)  # left by another tool

    def remove() -> None:
        reader.client.indices.delete_index_template(name=other)

    sink = make_sink()
    health = sink.health()  # on first connect, before any record: the conflict and its remedy
    assert not health.ok and other in health.detail and "template=skip" in health.detail, health.detail
    blocked_then_delivered(
        engine, reader, sink, prefix, tmp_path / "spool", "template_conflict", "template_priority=101", remove, caplog
    )


@pytest.mark.parametrize("option", ["template_priority=150", "template=skip"])
def test_template_options_get_past_a_conflict(
    engine: str, make_sink: Callable[..., SearchSink], prefix: str, option: str
) -> None:
    reader = make_sink()
    other = f"{prefix}-other-tool"
    put_template(engine, reader, other, [reader.index_pattern], priority=100)
    try:
        key, _, value = option.partition("=")
        sink = make_sink(**{key: value})
        assert sink.health().ok
        sink.write(batch(3))
        count, ids = all_ids(reader, prefix)
        assert (count, ids) == (6, expected_ids(batch(3)))
        mapping = reader.client.indices.get_mapping(index=f"{prefix}-seldon-prod-iris-default")
        meta = next(iter(mapping.values()))["mappings"].get("_meta", {})
        assert (meta.get("created_by") == "inferwatch") == (key == "template_priority")
    finally:
        reader.client.indices.delete_index_template(name=other)


def test_read_only_index_keeps_records_spooled_until_unblocked(
    engine: str, make_sink: Callable[..., SearchSink], prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reader = make_sink()
    reader.write(batch(1, prefix="before"))
    index = f"{prefix}-seldon-prod-iris-default"
    reader.client.indices.put_settings(index=index, body={"settings": {"index.blocks.read_only_allow_delete": True}})

    def unblock() -> None:
        reader.client.indices.put_settings(
            index=index, body={"settings": {"index.blocks.read_only_allow_delete": None}}
        )

    remedy = '"index.blocks.read_only_allow_delete": null'
    blocked_then_delivered(
        engine, reader, make_sink(), prefix, tmp_path / "spool", "read_only", remedy, unblock, caplog
    )


def test_missing_index_with_auto_create_off_keeps_records_spooled_until_created(
    engine: str, make_sink: Callable[..., SearchSink], prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reader = make_sink()
    index = f"{prefix}-seldon-prod-iris-default"
    reader.client.cluster.put_settings(body={"persistent": {"action.auto_create_index": "false"}})
    try:

        def create() -> None:
            reader.client.indices.create(index=index)

        remedy = "action.auto_create_index must allow"
        sink = make_sink()
        blocked_then_delivered(
            engine, reader, sink, prefix, tmp_path / "spool", "index_missing", remedy, create, caplog
        )
    finally:
        reader.client.cluster.put_settings(body={"persistent": {"action.auto_create_index": None}})


def test_an_index_whose_mapping_refuses_every_record_keeps_them_spooled(
    engine: str, make_sink: Callable[..., SearchSink], prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reader = make_sink()
    index = f"{prefix}-seldon-prod-iris-default"
    # created by hand before inferwatch's template existed: "request" is text there, inferwatch writes an object
    reader.client.indices.create(index=index, body={"mappings": {"properties": {"request": {"type": "text"}}}})

    def recreate() -> None:
        reader.client.indices.delete(index=index)

    remedy = "was not created from inferwatch's index template"
    blocked_then_delivered(engine, reader, make_sink(), prefix, tmp_path / "spool", "mapping", remedy, recreate, caplog)


def put_template(engine: str, sink: SearchSink, name: str, patterns: list[str], priority: int) -> None:
    """An index template of another tool: ``patterns`` at ``priority``, a mapping of its own."""
    body = {"settings": {"number_of_replicas": 0}, "mappings": {"properties": {"id": {"type": "keyword"}}}}
    if engine == "elasticsearch":
        sink.client.indices.put_index_template(name=name, index_patterns=patterns, priority=priority, template=body)
    else:
        sink.client.indices.put_index_template(
            name=name, body={"index_patterns": patterns, "priority": priority, "template": body}
        )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("scheme", ["elasticsearch", "opensearch"])
def test_unreachable_node_is_retriable_and_unhealthy(scheme: str) -> None:
    sink = open_sink(f"{scheme}://127.0.0.1:{_closed_port()}?request_timeout=2")
    with pytest.raises(SinkError) as err:
        sink.write(batch(2))
    assert err.value.retriable
    health = sink.health()
    assert not health.ok and "cluster health failed" in health.detail
    sink.close()
