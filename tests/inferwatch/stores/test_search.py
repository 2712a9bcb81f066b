"""The search-engine store reads what the search sink wrote (real dev-stack Elasticsearch and OpenSearch), and
says which node failed when it cannot."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from inferwatch.results import ResultRecord, per_request
from inferwatch.sinks import open_sink
from inferwatch.sinks.search import SearchSink
from inferwatch.stores import RecordQuery, StoreError, open_store
from tests.inferwatch.sinks.sink_records import golden

ENGINES = [
    pytest.param("elasticsearch", marks=pytest.mark.elasticsearch),
    pytest.param("opensearch", marks=pytest.mark.opensearch),
]
ENVELOPE = {"namespace": "prod", "deployment": "iris", "endpoint": "default", "source": "iris-od"}


def outlier(rid: str, flags: list[int]) -> list[ResultRecord]:
    body = {"data": {"is_outlier": flags, "instance_score": [0.5 + f for f in flags]}, "meta": {"name": "IForest"}}
    return per_request("outlier", body, rid, len(flags), **ENVELOPE)


@pytest.fixture(params=ENGINES)
def logged(request: pytest.FixtureRequest, unique_name: Callable[[str], str]) -> Iterator[tuple[str, SearchSink]]:
    """``(uri, sink)``: a search sink writing to indices of their own, removed afterwards."""
    engine = str(request.param)
    host = str(request.getfixturevalue(f"{engine}_url")).removeprefix("http://")
    p = unique_name("iws")
    uri = f"{engine}://{host}?index={p}-{{deployment}}&drift_index=dl{p}-{{deployment}}"
    sink = open_sink(uri)
    assert isinstance(sink, SearchSink)
    yield uri, sink
    for name in sink.client.indices.get(index=f"{p}-*"):
        sink.client.indices.delete(index=name)
    if sink.client.indices.exists_index_template(name=sink.template_name):
        sink.client.indices.delete_index_template(name=sink.template_name)
    sink.close()


def test_the_store_reads_what_the_sink_wrote(logged: tuple[str, SearchSink]) -> None:
    uri, sink = logged
    batch, single = golden("seldon_ndarray", request_id="s-1"), golden("mlserver_iris_single", request_id="s-2")
    single.received_at = batch.received_at + timedelta(seconds=1)  # the engines keep milliseconds
    sink.write([batch, single])
    sink.write([*outlier("s-1", [0, 1]), *outlier("early", [1])])  # "early": a result whose record never came
    store = open_store(uri)
    try:
        assert [r.id for r in store.query(RecordQuery())] == ["s-2", "s-1"]  # query refreshes first
        assert store.get("s-1") == batch and store.get("s-2") == single  # the logged records, as captured
        assert store.get("early") is None and store.get("s") is None
        assert [r.id for r in store.query(RecordQuery(flag="outlier"))] == ["s-1"]
        found = [(r.request_id, r.item, r.body["data"]["is_outlier"]) for r in store.results_for(["s-1", "early"])]
        assert sorted(found, key=str) == [("early", None, [1]), ("s-1", 0, 0), ("s-1", 1, 1)]  # a batch: split
    finally:
        store.close()


def test_a_request_id_finds_its_graph_nodes_collisions_and_events_and_nothing_else(
    logged: tuple[str, SearchSink],
) -> None:
    uri, sink = logged
    ids = ["g-1", "g-1@transformer", "g-1~0a1b2c", "g-10", "g-1-feedback"]
    sink.write([golden("mlserver_iris_single", request_id=rid) for rid in ids])
    store = open_store(uri)
    try:
        found = sorted(r.id for r in store.query(RecordQuery(request_id="g-1")))
        assert found == ["g-1", "g-1-feedback", "g-1@transformer", "g-1~0a1b2c"]
    finally:
        store.close()


@pytest.mark.parametrize("engine", ["elasticsearch", "opensearch"])
def test_a_node_that_cannot_be_reached_is_a_store_error_naming_it(engine: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = open_store(f"{engine}://127.0.0.1:{port}?request_timeout=1")
    with pytest.raises(StoreError, match=rf"{engine} 127.0.0.1:{port} index inference-log-\*: search failed") as e:
        store.get("r-1")
    assert e.value.status_code == 503 and e.value.retriable
    store.close()
