"""The dev-stack Elasticsearch core node, driven with the official ``elasticsearch`` 9.x client.

Covers what the project's sinks and audit search rely on: an index template, 10k documents through the
bulk helpers, search with terms/avg aggregations, get by id, count; and that a 429 or an unavailable
node reaches the caller as a clear, typed error.
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
from elasticsearch import ApiError, Elasticsearch, helpers
from elasticsearch import ConnectionError as ESConnectionError

from devstack.base import ServicePaths
from devstack.elasticsearch import ElasticsearchService

needs_node = pytest.mark.elasticsearch
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
def es(elasticsearch_url: str) -> Iterator[Elasticsearch]:
    client = Elasticsearch(elasticsearch_url, request_timeout=60)
    yield client
    client.close()


@pytest.fixture
def index(es: Elasticsearch) -> Iterator[str]:
    """A fresh index name covered by a fresh index template; both removed afterwards."""
    prefix = f"inference-log-seldon-devstack-{uuid.uuid4().hex[:8]}"
    es.indices.put_index_template(name=prefix, index_patterns=[f"{prefix}-*"], template=TEMPLATE)
    name = f"{prefix}-predictor"
    yield name
    es.options(ignore_status=404).indices.delete(index=name)
    es.indices.delete_index_template(name=prefix)


@needs_node
def test_cluster_health_passes_the_clients_product_check(es: Elasticsearch) -> None:
    health = es.cluster.health()
    assert health["status"] in ("green", "yellow")
    assert health["number_of_nodes"] == 1


@needs_node
def test_root_endpoint_is_absent_so_code_must_not_call_info(es: Elasticsearch) -> None:
    # The core engine has no rest-root module: GET / is not served. Readiness uses cluster health.
    with pytest.raises(ApiError) as exc:
        es.info()
    assert exc.value.meta.status in (404, 405)


@needs_node
def test_template_bulk_search_aggregate_get_count(es: Elasticsearch, index: str) -> None:
    ok, errors = helpers.bulk(es, actions(index, N_DOCS), chunk_size=1000)
    assert (ok, errors) == (N_DOCS, [])
    es.indices.refresh(index=index)

    mapping = es.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert mapping["model"]["type"] == "keyword"  # the template, not dynamic mapping (text)
    settings = es.indices.get_settings(index=index)[index]["settings"]["index"]
    assert settings["number_of_replicas"] == "0"

    docs = [make_doc(i) for i in range(N_DOCS)]
    assert es.count(index=index)["count"] == N_DOCS
    n_outliers = sum(d["outlier"] for d in docs)
    assert es.count(index=index, query={"term": {"outlier": True}})["count"] == n_outliers

    by_model: dict[str, list[float]] = defaultdict(list)
    for d in docs:
        by_model[d["model"]].append(d["latency_ms"])
    resp = es.search(
        index=index,
        size=0,
        aggs={"models": {"terms": {"field": "model"}, "aggs": {"latency": {"avg": {"field": "latency_ms"}}}}},
    )
    buckets = {b["key"]: b for b in resp["aggregations"]["models"]["buckets"]}
    assert {k: b["doc_count"] for k, b in buckets.items()} == dict(Counter(d["model"] for d in docs))
    for model, values in by_model.items():
        assert buckets[model]["latency"]["value"] == pytest.approx(sum(values) / len(values), rel=1e-5)

    hits = es.search(
        index=index,
        query={"bool": {"filter": [{"term": {"model": "wine"}}, {"range": {"latency_ms": {"gte": 90}}}]}},
        sort=[{"request_id": "asc"}],
        size=5,
    )["hits"]
    expected = sorted(d["request_id"] for d in docs if d["model"] == "wine" and d["latency_ms"] >= 90)
    assert hits["total"]["value"] == len(expected)
    assert [h["_id"] for h in hits["hits"]] == expected[:5]

    got = es.get(index=index, id="req-04242")
    assert got["found"] is True
    assert got["_source"] == make_doc(4242)


@needs_node
def test_streaming_bulk_reports_each_item(es: Elasticsearch, index: str) -> None:
    first = list(helpers.streaming_bulk(es, actions(index, 50), chunk_size=20))
    assert [ok for ok, _ in first] == [True] * 50
    assert {item["index"]["result"] for _, item in first} == {"created"}
    again = list(helpers.streaming_bulk(es, actions(index, 50), chunk_size=20))
    assert {item["index"]["result"] for _, item in again} == {"updated"}  # ids make re-delivery idempotent
    es.indices.refresh(index=index)
    assert es.count(index=index)["count"] == 50


@needs_node
def test_429_from_a_read_only_index_surfaces_as_per_item_errors(es: Elasticsearch, index: str) -> None:
    # The flood-stage disk watermark puts exactly this block on indices; writes then answer 429.
    es.indices.create(index=index)
    es.indices.put_settings(index=index, settings={"index.blocks.read_only_allow_delete": True})
    try:
        results = list(
            helpers.streaming_bulk(es, actions(index, 30), raise_on_error=False, max_retries=2, initial_backoff=0.05)
        )
        assert len(results) == 30
        assert not any(ok for ok, _ in results)
        for _, item in results:
            assert item["index"]["status"] == 429
            assert item["index"]["error"]["type"] == "cluster_block_exception"
            assert "TOO_MANY_REQUESTS" in item["index"]["error"]["reason"]

        with pytest.raises(helpers.BulkIndexError) as exc:
            helpers.bulk(es, actions(index, 5))
        assert len(exc.value.errors) == 5
        assert {e["index"]["status"] for e in exc.value.errors} == {429}
    finally:
        es.indices.put_settings(index=index, settings={"index.blocks.read_only_allow_delete": None})

    ok, errors = helpers.bulk(es, actions(index, 30), refresh="wait_for")
    assert (ok, errors) == (30, [])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unavailable_node_raises_connection_error() -> None:
    client = Elasticsearch(f"http://127.0.0.1:{_closed_port()}", max_retries=0, request_timeout=5)
    with pytest.raises(ESConnectionError):
        client.cluster.health()
    with pytest.raises(ESConnectionError):
        helpers.bulk(client, actions("inference-log-unreachable", 10))
    client.close()


def _service(tmp_path: Path, port: int) -> ElasticsearchService:
    paths = ServicePaths(data=tmp_path / "data", logs=tmp_path / "logs", cache=tmp_path / "cache")
    return ElasticsearchService(paths, port)


def test_prepare_writes_a_single_node_loopback_config(tmp_path: Path) -> None:
    svc = _service(tmp_path, 19555)
    svc.prepare()
    svc.prepare()  # idempotent
    lines = svc.config_file.read_text().splitlines()
    config = {k: json.loads(v) for k, v in (line.split(": ", 1) for line in lines)}
    assert config["discovery.type"] == "single-node"
    assert config["network.host"] == "127.0.0.1"
    assert (config["http.port"], config["transport.port"]) == (19555, 19655)
    assert config["indices.breaker.total.use_real_memory"] is False
    assert config["path.home"] == str(tmp_path / "data")
    assert config["path.logs"] == str(tmp_path / "logs")
    assert svc.url == "http://127.0.0.1:19555"
    assert not svc.is_ready()  # nothing runs there
