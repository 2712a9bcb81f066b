"""Detector results through ``--results-sink``: every transport publishes, and in the real Elasticsearch the
outlier result is merged into the document the logger's sink writes for the same request (either order); a
closed drift window goes to the drift index; the Kafka-consumer path publishes for the record it read."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from inferwatch.capture import Body, Exchange, RecordBuilder
from inferwatch.delivery.publisher import ResultPublisher
from inferwatch.detectors.app import create_app
from inferwatch.detectors.consume import RecordDetector
from inferwatch.detectors.core import DetectorCore
from inferwatch.detectors.results import DetectorResults
from inferwatch.records import InferenceRecord
from inferwatch.sinks import open_sink
from inferwatch.sinks.search import SearchSink
from inferwatch.stores.sqlite import SQLiteStore

MakeCore = Callable[..., DetectorCore]
NAMES = {"results_namespace": "prod", "results_deployment": "iris", "results_endpoint": "default"}
OUTLYING = [50.0, 50.0, 50.0, 50.0]


def logged(rid: str, rows: list[list[float]], path: str = "/api/v1.0/predictions") -> InferenceRecord:
    """The record the logger builds for a request (its RecordBuilder, its naming fields)."""
    raw = orjson.dumps({"data": {"ndarray": rows}})
    ex = Exchange(rid, time.time(), request=Body(raw, "application/json", len(raw)), path=path, method="POST")
    ex.namespace, ex.deployment, ex.endpoint, ex.status_code = "prod", "iris", "default", 200
    return RecordBuilder().build(ex)


@pytest.fixture
def es(elasticsearch_url: str, unique_name: Callable[[str], str]) -> Iterator[tuple[str, SearchSink]]:
    """A results-sink URI on the real node and the logger's sink on the same indices (removed afterwards)."""
    p = unique_name("iwd")
    host = elasticsearch_url.removeprefix("http://")
    uri = f"elasticsearch://{host}?index={p}-{{engine}}-{{namespace}}-{{deployment}}-{{endpoint}}&drift_index=dl{p}-{{deployment}}"
    logger_sink = open_sink(uri)
    assert isinstance(logger_sink, SearchSink)
    yield uri, logger_sink
    for pattern in (f"{p}-*", f"dl{p}-*"):
        for name in logger_sink.client.indices.get(index=pattern):
            logger_sink.client.indices.delete(index=name)
    for name in (logger_sink.template_name, logger_sink.drift_template_name):
        if logger_sink.client.indices.exists_index_template(name=name):
            logger_sink.client.indices.delete_index_template(name=name)
    logger_sink.close()


def serve(core: DetectorCore, tmp_path: Path) -> tuple[DetectorResults, TestClient]:
    publisher = ResultPublisher.from_settings(core.settings, core.registry, "detector-test").start()
    results = DetectorResults(core.settings, core.detector_type, publisher)
    core.on_window = results.window
    return results, TestClient(create_app(core.settings, core, results))


def source(sink: SearchSink, doc_id: str) -> dict[str, Any]:
    index = sink.index_pattern.removesuffix("*") + "seldon-prod-iris-default"
    sink.client.indices.refresh(index=index)
    doc: dict[str, Any] = sink.client.get(index=index, id=doc_id)["_source"]
    return doc


@pytest.mark.elasticsearch
def test_outliers_from_every_transport_merge_into_the_logged_documents(
    es: tuple[str, SearchSink], iforest_dir: Path, iris_x: Any, make_core: MakeCore, tmp_path: Path
) -> None:
    uri, logger_sink = es
    core = make_core(
        iforest_dir,
        tmp_path / "state",
        trust_artifacts=True,
        model_name="iris-od",
        results_sink=[uri],
        results_spool_dir=tmp_path / "spool",
        **NAMES,
    )
    rows = [list(map(float, iris_x[0])), OUTLYING, list(map(float, iris_x[1]))]
    early = logged("seldon-3", rows)
    logger_sink.write([early])  # this record is logged before the detector sees the request
    results, client = serve(core, tmp_path)
    with client:
        r = client.post("/api/v1.0/predictions", json={"data": {"ndarray": rows}}, headers={"x-request-id": "seldon-3"})
        assert r.status_code == 200, r.text
        v2 = {"id": "v2-1", "inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 4], "data": OUTLYING}]}
        assert client.post("/v2/models/iris-od/infer", json=v2).status_code == 200
        ce = {
            "ce-id": "e1",
            "ce-source": "s",
            "ce-type": "io.seldon.serving.inference.request",
            "ce-specversion": "1.0",
        }
        ce |= {"ce-requestid": "ce-1", "ce-namespace": "prod", "content-type": "application/json"}
        assert client.post("/", content=orjson.dumps({"data": {"ndarray": [OUTLYING]}}), headers=ce).status_code == 200
    results.publisher.close()  # delivers everything accepted
    logger_sink.write([logged("v2-1", [OUTLYING], "/v2/models/iris/infer"), logged("ce-1", [OUTLYING])])  # after

    items = [source(logger_sink, f"seldon-3-item-{i}") for i in range(3)]
    assert [d["outlier"]["data"]["is_outlier"] for d in items] == [0, 1, 0]
    assert [d["request"]["elements"] for d in items] == [i["request"] for i in early.instances]
    assert all(d["outlier"]["source"] == "iris-od" for d in items)
    for rid in ("v2-1", "ce-1"):
        doc = source(logger_sink, rid)
        assert doc["outlier"]["data"]["is_outlier"] == [1] and doc["request"]["elements"], rid
    written = core.registry.get_sample_value("inferwatch_sink_records_written_total", {"sink": "elasticsearch"})
    assert written == 5


@pytest.mark.elasticsearch
def test_a_closed_drift_window_goes_to_the_drift_index(
    es: tuple[str, SearchSink], ks_dir: Path, drifted: Any, make_core: MakeCore, tmp_path: Path
) -> None:
    uri, logger_sink = es
    core = make_core(
        ks_dir,
        tmp_path / "state",
        batch_size=50,
        model_name="iris-cd",
        results_sink=[uri],
        results_spool_dir=tmp_path / "spool",
        **NAMES,
    )
    results, client = serve(core, tmp_path)
    with client:
        body = {"data": {"ndarray": np.asarray(drifted).tolist()}}
        r = client.post("/api/v1.0/predictions", json=body, headers={"x-request-id": "d-1"})
        assert r.json()["jsonData"]["data"]["is_drift"] == 1
    results.publisher.close()
    index = "dl" + logger_sink.index_pattern.removesuffix("-*") + "-iris"
    logger_sink.client.indices.refresh(index=index)
    hits = logger_sink.client.search(index=index, body={"query": {"term": {"drift.data.is_drift": 1}}})["hits"]["hits"]
    assert len(hits) == 1 and hits[0]["_id"].startswith("drift/iris-cd/")
    assert hits[0]["_source"]["drift"]["data"]["window_size"] == 50 and hits[0]["_source"]["namespace"] == "prod"


def test_kafka_consumer_path_publishes_for_the_record_it_read(
    iforest_dir: Path, make_core: MakeCore, tmp_path: Path, iris_x: Any
) -> None:
    store = f"sqlite:///{tmp_path / 'results.db'}"
    core = make_core(
        iforest_dir,
        tmp_path / "state",
        trust_artifacts=True,
        model_name="iris-od",
        results_sink=[store],
        results_spool_dir=tmp_path / "spool",
    )
    publisher = ResultPublisher.from_settings(core.settings, core.registry, "detector-consume").start()
    consumer = RecordDetector(core, results=DetectorResults(core.settings, core.detector_type, publisher))
    record = logged("k-7", [list(map(float, iris_x[3])), OUTLYING])
    assert consumer.process(record.to_json()) is not None
    publisher.close()
    db = SQLiteStore(tmp_path / "results.db")
    got = db.results_for(["k-7"])
    db.close()
    assert [(r.id, r.item, r.body["data"]["is_outlier"], r.namespace) for r in got] == [
        ("k-7/outlier/0", 0, 0, "prod"),
        ("k-7/outlier/1", 1, 1, "prod"),
    ]
