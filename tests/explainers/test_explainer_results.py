"""Explanations through ``--results-sink``: in the real Elasticsearch each explanation is merged into the document
the logger's sink writes for the explained request (x-request-id, or the V2 body id), per instance of a batch."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from inferwatch.capture import Body, Exchange, RecordBuilder
from inferwatch.delivery.publisher import ResultPublisher
from inferwatch.explainers.app import create_app
from inferwatch.explainers.core import ExplainerCore
from inferwatch.explainers.results import ExplainerResults
from inferwatch.explainers.settings import ExplainerSettings
from inferwatch.records import InferenceRecord
from inferwatch.sinks import open_sink
from inferwatch.sinks.search import SearchSink
from tests.explainers.conftest import IRIS_REFERENCE, SETOSA, VIRGINICA
from tests.servers import serving


def logged(rid: str, body: dict[str, Any], path: str) -> InferenceRecord:
    """The record the logger builds for the prediction request that is being explained."""
    raw = orjson.dumps(body)
    ex = Exchange(rid, time.time(), request=Body(raw, "application/json", len(raw)), path=path, method="POST")
    ex.namespace, ex.deployment, ex.endpoint, ex.status_code = "prod", "iris", "default", 200
    return RecordBuilder().build(ex)


@pytest.fixture
def es(elasticsearch_url: str, unique_name: Callable[[str], str]) -> Iterator[tuple[str, SearchSink]]:
    p = unique_name("iwx")
    uri = f"elasticsearch://{elasticsearch_url.removeprefix('http://')}?index={p}-{{namespace}}-{{deployment}}"
    sink = open_sink(uri)
    assert isinstance(sink, SearchSink)
    yield uri, sink
    for name in sink.client.indices.get(index=f"{p}-*"):
        sink.client.indices.delete(index=name)
    if sink.client.indices.exists_index_template(name=sink.template_name):
        sink.client.indices.delete_index_template(name=sink.template_name)
    sink.close()


@pytest.mark.elasticsearch
def test_explanations_merge_into_the_logged_documents(
    es: tuple[str, SearchSink], demo_model: str, tmp_path: Path
) -> None:
    uri, logger_sink = es
    settings = ExplainerSettings(
        kind="anchor_tabular",
        model_url=demo_model,
        model_name="iris",
        reference=IRIS_REFERENCE,
        option=["target=species", "seed=0"],
        results_sink=[uri],
        results_spool_dir=tmp_path / "spool",
        results_namespace="prod",
        results_deployment="iris",
    )
    core = ExplainerCore(settings)
    publisher = ResultPublisher.from_settings(settings, core.metrics.registry, "explainer-test").start()
    batch = {"data": {"ndarray": [SETOSA, VIRGINICA]}}
    v2 = {"id": "v2-exp", "inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 4], "data": VIRGINICA}]}
    logger_sink.write([logged("exp-2", batch, "/api/v1.0/predictions")])  # logged before the explanation
    with serving(create_app(settings, core, ExplainerResults(settings, publisher))) as url:
        r = httpx.post(f"{url}/api/v1.0/explain", json=batch, headers={"x-request-id": "exp-2"}, timeout=60)
        assert r.status_code == 200, r.text
        r = httpx.post(f"{url}/v2/models/iris/infer", json=v2, timeout=60)
        assert r.status_code == 200, r.text
        anonymous = httpx.post(f"{url}/explain", json={"instances": [SETOSA]}, timeout=60)  # no id: one is made
        assert anonymous.status_code == 200
        generated = anonymous.headers["x-request-id"]
    publisher.close()
    logger_sink.write([logged("v2-exp", v2, "/v2/models/iris/infer")])  # logged after the explanation

    index = logger_sink.index_pattern.removesuffix("*") + "prod-iris"
    logger_sink.client.indices.refresh(index=index)
    docs = {d: logger_sink.client.get(index=index, id=d)["_source"] for d in ("exp-2-item-0", "exp-2-item-1", "v2-exp")}
    assert [docs[f"exp-2-item-{i}"]["explanation"]["data"]["raw"]["prediction"] for i in (0, 1)] == [[0], [2]]
    assert all(d["explanation"]["meta"]["name"] == "AnchorTabular" and d["request"]["elements"] for d in docs.values())
    assert docs["v2-exp"]["explanation"]["source"] == "explainer-anchor_tabular"
    alone = logger_sink.client.get(index=index, id=generated)["_source"]  # recorded under the id it was answered with
    assert alone["explanation"]["meta"]["name"] == "AnchorTabular" and "request" not in alone
    assert logger_sink.client.count(index=index)["count"] == 4
    hits = logger_sink.client.search(index=index, body={"query": {"term": {"explanation.meta.name": "AnchorTabular"}}})
    assert hits["hits"]["total"]["value"] == 4
