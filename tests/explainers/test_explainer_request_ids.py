"""Every explain call is recorded (``--results-sink``) under a request id, and the caller gets that id back in
``x-request-id``: its own (header or body id), else a generated one — on every explain route."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from inferwatch.delivery.publisher import ResultPublisher
from inferwatch.explainers.app import create_app
from inferwatch.explainers.core import ExplainerCore
from inferwatch.explainers.results import ExplainerResults
from inferwatch.explainers.settings import ExplainerSettings
from inferwatch.results import ResultRecord
from inferwatch.stores.sqlite import SQLiteStore
from tests.explainers.conftest import IRIS_REFERENCE, SETOSA, VIRGINICA
from tests.servers import serving

V2_INPUT = {"name": "x", "datatype": "FP64", "shape": [1, 4], "data": SETOSA}
ROUTES: dict[str, tuple[str, dict[str, Any]]] = {
    "seldon-v1.0": ("/api/v1.0/explain", {"data": {"ndarray": [SETOSA]}}),
    "seldon-v0.1": ("/api/v0.1/explain", {"data": {"ndarray": [SETOSA]}}),
    "kserve-v1": ("/v1/models/iris:explain", {"instances": [SETOSA]}),
    "v2": ("/v2/models/iris/infer", {"inputs": [V2_INPUT]}),
    "plain": ("/explain", {"instances": [SETOSA]}),
}


class Explainer:
    def __init__(self, url: str, store: SQLiteStore) -> None:
        self.url, self.store = url, store

    def results(self, request_id: str, timeout: float = 10.0) -> list[ResultRecord]:
        deadline = time.monotonic() + timeout
        while not (found := self.store.results_for([request_id])) and time.monotonic() < deadline:
            time.sleep(0.05)
        return found


@pytest.fixture(scope="module")
def explainer(demo_model: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Explainer]:
    tmp = tmp_path_factory.mktemp("ids")
    settings = ExplainerSettings(
        kind="anchor_tabular",
        model_url=demo_model,
        model_name="iris",
        reference=IRIS_REFERENCE,
        option=["target=species", "seed=0"],
        results_sink=[f"sqlite:///{tmp / 'audit.db'}"],
        results_spool_dir=tmp / "spool",
    )
    core = ExplainerCore(settings)
    publisher = ResultPublisher.from_settings(settings, core.metrics.registry, "explainer-test").start()
    try:
        with serving(create_app(settings, core, ExplainerResults(settings, publisher))) as url:
            yield Explainer(url, SQLiteStore(tmp / "audit.db"))
    finally:
        publisher.close()


@pytest.mark.parametrize("route", ROUTES)
def test_an_explanation_without_a_request_id_is_recorded_under_the_id_it_answers(
    explainer: Explainer, route: str
) -> None:
    path, body = ROUTES[route]
    r = httpx.post(explainer.url + path, json=body, timeout=60)
    assert r.status_code == 200, r.text
    rid = r.headers.get("x-request-id")
    assert rid, "the caller learns the id its explanation is recorded under"
    [result] = explainer.results(rid)
    assert result.kind == "explanation" and result.body["meta"]["name"] == "AnchorTabular"


@pytest.mark.parametrize("route", ROUTES)
def test_the_callers_request_id_is_recorded_and_returned(explainer: Explainer, route: str) -> None:
    path, body = ROUTES[route]
    rid = f"caller-{route}"
    r = httpx.post(explainer.url + path, json=body, headers={"x-request-id": rid}, timeout=60)
    assert r.status_code == 200 and r.headers["x-request-id"] == rid
    assert len(explainer.results(rid)) == 1


def test_a_body_id_is_the_request_id(explainer: Explainer) -> None:
    batch = {"id": "v2-body-id", "inputs": [{**V2_INPUT, "shape": [2, 4], "data": SETOSA + VIRGINICA}]}
    r = httpx.post(f"{explainer.url}/v2/models/iris/infer", json=batch, timeout=60)
    assert r.status_code == 200 and r.headers["x-request-id"] == "v2-body-id"
    assert r.json()["id"] == "v2-body-id"
    deadline = time.monotonic() + 10
    while len(found := explainer.store.results_for(["v2-body-id"])) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [x.item for x in found] == [0, 1]  # one explanation per instance of the batch


def test_a_body_id_that_is_no_header_text_is_returned_percent_encoded(explainer: Explainer) -> None:
    """Found by schemathesis: a V2 ``id`` outside latin-1 made the answer's x-request-id raise (500)."""
    body = {"id": "café-Ā 1", "inputs": [{**V2_INPUT, "shape": [1, 4], "data": SETOSA}]}
    r = httpx.post(f"{explainer.url}/v2/models/iris/infer", json=body, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"] == "caf%C3%A9-%C4%80%201"
    assert r.json()["id"] == "café-Ā 1"
    assert len(explainer.results("café-Ā 1")) == 1  # recorded under the id itself
