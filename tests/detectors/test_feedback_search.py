"""Feedback by request id against the logger's real Elasticsearch / OpenSearch indices (dev stack)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from inferwatch.capture import Body, Exchange, RecordBuilder
from inferwatch.detectors.app import create_app
from inferwatch.detectors.core import DetectorCore
from inferwatch.detectors.feedback import FeedbackCounter, FeedbackService, open_feedback_store
from inferwatch.errors import NotFound
from inferwatch.results import Origin
from inferwatch.sinks.base import SinkURI
from inferwatch.sinks.search import SearchSink
from inferwatch.sinks.search_docs import documents

ENGINES = [
    pytest.param("elasticsearch", marks=pytest.mark.elasticsearch),
    pytest.param("opensearch", marks=pytest.mark.opensearch),
]
RESPONSE = {"data": {"names": ["t:0", "t:1", "t:2"], "ndarray": [[0.1, 0.2, 0.7], [0.8, 0.1, 0.1], [0.2, 0.5, 0.3]]}}


def record(request_id: str) -> Any:
    now = time.time()
    request = {"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]] * 3}}
    return RecordBuilder().build(
        Exchange(
            request_id,
            now,
            now + 0.01,
            Body(orjson.dumps(request), "application/json"),
            Body(orjson.dumps(RESPONSE), "application/json"),
            status_code=200,
            path="/api/v1.0/predictions",
            model_name="iris",
            namespace="prod",
            deployment="iris",
        )
    )


def log_records(uri: str, *records: Any) -> str:
    """Index records as the logger's search sink does; returns the index pattern."""
    sink = SearchSink.from_uri(SinkURI.parse(uri))
    sink.write(list(records))
    sink.client.indices.refresh(index=sink.index_pattern)
    sink.close()
    return sink.index_pattern


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("bodies", ["first", "none"])
def test_lookup_in_the_loggers_index(
    engine: str, bodies: str, request: pytest.FixtureRequest, unique_name: Callable[[str], str]
) -> None:
    """``bodies=first``: the raw response is decoded; ``bodies=none``: the per-instance ``response.elements``."""
    host = str(request.getfixturevalue(f"{engine}_url")).removeprefix("http://")
    uri = f"{engine}://{host}?index={unique_name('fb')}-{{deployment}}&bodies={bodies}"
    rec = record("req-es-1")
    assert len(list(documents(rec, bodies))) == 3  # a batch: one document per instance
    pattern = log_records(uri, rec)

    service = FeedbackService(FeedbackCounter(registry := CollectorRegistry()), open_feedback_store(uri), "x")
    try:
        truth = orjson.dumps({"truth": {"data": {"ndarray": [[2], [0], [2]]}}})
        summary = service.handle(truth, Origin("req-es-1"))
        assert summary["predicted"] == ["CLASS_2", "CLASS_0", "CLASS_1"]
        assert summary["correct"] == 2 and summary["model_name"] == "iris"
        assert registry.get_sample_value(
            "seldon_metric_false_positive_total", {"model_name": "iris", "class": "CLASS_1"}
        )
        with pytest.raises(NotFound, match="'req-es-404' not found in") as err:
            service.handle(truth, Origin("req-es-404"))
        assert pattern in err.value.message
    finally:
        service.close()


@pytest.mark.elasticsearch
def test_served_detector_answers_feedback_from_elasticsearch(
    ks_core: DetectorCore, elasticsearch_url: str, unique_name: Callable[[str], str]
) -> None:
    uri = f"elasticsearch://{elasticsearch_url.removeprefix('http://')}?index={unique_name('fbapp')}-{{deployment}}"
    log_records(uri, record("req-es-2"))
    settings = ks_core.settings.model_copy(update={"feedback_store": uri})
    with TestClient(create_app(settings, ks_core)) as client:
        r = client.post(
            "/send-feedback",
            json={"truth": {"data": {"ndarray": [[1, 0, 0], [1, 0, 0], [0, 1, 0]]}}},
            headers={"x-request-id": "req-es-2"},
        )
    assert r.status_code == 200, r.text
    assert r.json()["jsonData"]["correct"] == 2
    labels = {"model_name": "iris", "class": "CLASS_0"}
    assert ks_core.registry.get_sample_value("seldon_metric_false_negative_total", labels) == 1
