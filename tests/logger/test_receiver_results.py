"""A detector's answer sent to the logger's receiver (Seldon's ``logger.url`` chain, or a detector's
``--reply-url``) is merged into the logged request as its ``outlier`` result: in the embedded store's results
table and in the request's Elasticsearch documents, one per instance of the batch."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from inferwatch.results import ResultRecord
from inferwatch.stores import RecordQuery
from tests.logger.conftest import Running

DATA = Path(__file__).parents[1] / "testdata" / "cloudevents"
RID = "a1b2c3d4-0001"  # the request id of the recorded Seldon executor events


def _post(url: str, name: str, body: bytes | None = None) -> httpx.Response:
    doc: dict[str, Any] = json.loads((DATA / name).read_text())
    content = body if body is not None else orjson.dumps(doc["body"])
    return httpx.post(url + "/", content=content, headers=doc["headers"])


def _results(lg: Running, n: int, timeout: float = 10.0) -> list[ResultRecord]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = lg.store.results_for([RID])
        if len(found) >= n:
            return sorted(found, key=lambda r: r.item or 0)
        time.sleep(0.02)
    raise AssertionError(f"{n} results for {RID} were not stored within {timeout}s")


def _send_all(lg: Running) -> None:
    for name in ("seldon_executor_request.json", "detector_outlier_reply.json", "seldon_executor_response.json"):
        assert _post(lg.url, name).status_code == 200


@pytest.mark.parametrize("durability", ["async", "sync"])
def test_detector_answer_becomes_per_instance_outlier_results(run_logger: Callable[..., Any], durability: str) -> None:
    with run_logger(durability=durability) as lg:
        _send_all(lg)
        record = lg.wait_record(RID)
        results = _results(lg, 2)
        assert lg.store.query(RecordQuery(request_id=f"{RID}-outlier")) == []  # merged, not a record of its own
        tracker = lg.service.pipeline._tracker
        if durability == "sync":  # the one log entry built into two results is acknowledged once both are stored
            assert tracker is not None
            deadline = time.monotonic() + 10
            while tracker.pending and time.monotonic() < deadline:
                time.sleep(0.02)
            assert tracker.pending == 0
    assert len(record.instances) == 2
    assert [(r.kind, r.item, r.items) for r in results] == [("outlier", 0, 2), ("outlier", 1, 2)]
    assert [r.body["data"]["is_outlier"] for r in results] == [0, 1]
    assert results[1].body["meta"]["name"] == "IForest"
    assert (results[0].deployment, results[0].namespace, results[0].model_name) == ("iris", "seldon", "classifier")


def test_an_answer_that_is_not_a_result_is_kept_as_a_record(run_logger: Callable[..., Any]) -> None:
    with run_logger() as lg:
        assert _post(lg.url, "detector_outlier_reply.json", b"not json").status_code == 200
        kept = lg.wait_record(f"{RID}-outlier")
        assert lg.store.results_for([RID]) == []
    assert kept.tags["kind"] == "outlier" and kept.tags["request_id"] == RID
    assert kept.request is not None and kept.request.raw == "not json"


@pytest.mark.elasticsearch
def test_outlier_is_merged_into_the_request_documents_in_elasticsearch(
    run_logger: Callable[..., Any], elasticsearch_url: str, unique_name: Callable[[str], str]
) -> None:
    from elasticsearch import Elasticsearch

    prefix = unique_name("iwrx")
    host = elasticsearch_url.removeprefix("http://")
    sink = f"elasticsearch://{host}?index={prefix}-{{namespace}}-{{deployment}}"
    client = Elasticsearch(elasticsearch_url)
    try:
        with run_logger(sink=[sink]) as lg:
            _send_all(lg)
            _results(lg, 2)  # the embedded store has them: the search sink got the same batch
            index = f"{prefix}-seldon-iris"
            deadline = time.monotonic() + 30
            docs: dict[str, Any] = {}
            while time.monotonic() < deadline:
                client.indices.refresh(index=f"{prefix}-*", ignore_unavailable=True)
                found = client.search(index=f"{prefix}-*", query={"term": {"id": RID}}, size=10)["hits"]["hits"]
                docs = {h["_id"]: h["_source"] for h in found}
                if len(docs) == 2 and all("outlier" in d and "request" in d for d in docs.values()):
                    break
                time.sleep(0.3)
        assert set(docs) == {f"{RID}-item-0", f"{RID}-item-1"}, docs
        assert docs[f"{RID}-item-1"]["outlier"]["data"]["is_outlier"] == 1
        assert docs[f"{RID}-item-0"]["outlier"]["data"]["is_outlier"] == 0
        assert docs[f"{RID}-item-1"]["request"]["elements"]["petal_length"] == 5.2
        assert client.indices.exists(index=index)
    finally:
        from inferwatch.sinks import open_sink
        from inferwatch.sinks.search import SearchSink

        for name in client.indices.get(index=f"{prefix}-*"):
            client.indices.delete(index=name)
        cleaner = open_sink(sink)
        assert isinstance(cleaner, SearchSink)
        for template in (cleaner.template_name, cleaner.drift_template_name):
            if client.indices.exists_index_template(name=template):
                client.indices.delete_index_template(name=template)
        cleaner.close()
        client.close()
