"""Feedback metrics: labels, counting against scikit-learn's confusion matrices, the HTTP and CloudEvents routes,
look-ups of logged responses in the embedded store, and every bad input."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import multilabel_confusion_matrix

from inferwatch.capture import Body, Exchange, RecordBuilder
from inferwatch.detectors.app import create_app
from inferwatch.detectors.core import DetectorCore
from inferwatch.detectors.feedback import FeedbackCounter, instance_labels
from inferwatch.errors import UnprocessableEntity
from inferwatch.sinks.sqlite import SQLiteSink

Array = np.ndarray[Any, Any]
CE_FEEDBACK = {
    "ce-id": "fb-1",
    "ce-source": "seldon/iris",
    "ce-type": "io.seldon.serving.feedback",
    "ce-specversion": "1.0",
    "ce-requestid": "req-7",
    "ce-modelid": "iris",
    "content-type": "application/json",
}


@pytest.fixture(scope="module")
def iris_model() -> tuple[Array, Array]:
    """Probabilities of a deliberately weak iris classifier (sepal features only: it makes mistakes) and the truth."""
    data = load_iris()
    x, y = data.data[:, :2], data.target
    proba: Array = LogisticRegression(max_iter=500).fit(x, y).predict_proba(x)
    rows = np.random.default_rng(1).choice(len(y), 60, replace=False)
    return proba[rows], y[rows]


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def assert_matches_sklearn(registry: CollectorRegistry, model: str, y_true: Array, y_pred: Array) -> None:
    for k, ((tn, fp), (fn, tp)) in enumerate(multilabel_confusion_matrix(y_true, y_pred, labels=[0, 1, 2])):
        labels = {"model_name": model, "class": f"CLASS_{k}"}
        got = [value(registry, f"seldon_metric_{m}_total", **labels) for m in ("true_positive", "false_positive")]
        got += [value(registry, f"seldon_metric_{m}_total", **labels) for m in ("false_negative", "true_negative")]
        assert got == [tp, fp, fn, tn], f"class {k}"
        assert value(registry, "inferwatch_feedback_accuracy", **labels) == pytest.approx((tp + tn) / len(y_true))
    accuracy = float(np.mean(y_true == y_pred))
    assert value(registry, "inferwatch_feedback_accuracy", model_name=model, **{"class": ""}) == pytest.approx(accuracy)
    assert value(registry, "inferwatch_feedback_instances_total", model_name=model) == len(y_true)


def feedback(response: Any | None, truth: Any, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"truth": {"data": {"ndarray": truth}}, **extra}
    if response is not None:
        body["response"] = {"data": {"names": ["t:0", "t:1", "t:2"], "ndarray": response}, "meta": {}}
    return body


@pytest.fixture
def client(ks_core: DetectorCore) -> Iterator[TestClient]:
    with TestClient(create_app(ks_core.settings, ks_core)) as c:
        yield c


# --- labels and counting --------------------------------------------------------------------------------------


def test_instance_labels_follow_seldons_conventions() -> None:
    assert instance_labels([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1]], "response") == (["1", "0"], 3)
    assert instance_labels([0.1, 0.2, 0.7], "response") == (["2"], 3)  # a flat array is one instance
    assert instance_labels([[2], [0]], "truth") == (["2", "0"], None)
    assert instance_labels([[0.8], [0.3]], "response") == (["1", "0"], None)  # binary probability
    assert instance_labels(np.array([["setosa"]]), "truth") == (["setosa"], None)
    with pytest.raises(UnprocessableEntity, match=r"'truth' value 0\.3 is not a class id"):
        instance_labels([[0.3]], "truth")
    with pytest.raises(UnprocessableEntity, match="one row per instance"):
        instance_labels(np.zeros((2, 2, 2)), "response")


def test_counts_match_sklearn_confusion_matrices(iris_model: tuple[Array, Array]) -> None:
    proba, y = iris_model
    counter = FeedbackCounter(registry := CollectorRegistry())
    predicted = [str(int(i)) for i in proba.argmax(axis=1)]
    for start in range(0, len(y), 25):  # three feedback batches
        sl = slice(start, start + 25)
        counter.count("iris", predicted[sl], [str(int(t)) for t in y[sl]], 3, 0.5)
    y_pred = proba.argmax(axis=1)
    assert 0 < (y_pred != y).sum() < len(y)  # the weak model is right and wrong
    assert_matches_sklearn(registry, "iris", y, y_pred)
    assert value(registry, "seldon_api_model_feedback_total", model_name="iris") == 3
    assert value(registry, "seldon_api_model_feedback_reward_total", model_name="iris") == 1.5


def test_classes_discovered_later_get_their_true_negatives(iris_model: tuple[Array, Array]) -> None:
    """Class ids (no score rows) only name the classes seen so far: a late class still gets exact TN counts."""
    proba, y = iris_model
    y_pred = proba.argmax(axis=1)
    order = np.argsort(y, kind="stable")  # classes 0 and 1 first, class 2 only in the last batches
    counter = FeedbackCounter(registry := CollectorRegistry())
    for start in range(0, len(y), 10):
        rows = order[start : start + 10]
        counter.count("iris", [str(p) for p in y_pred[rows]], [str(t) for t in y[rows]], None, None)
    assert_matches_sklearn(registry, "iris", y[order], y_pred[order])


def test_tallies_survive_a_restart(iris_model: tuple[Array, Array], tmp_path: Path) -> None:
    """Feedback split over two runs of the server gives the accuracy and confusion counts of one run."""
    proba, y = iris_model
    predicted = [str(int(i)) for i in proba.argmax(axis=1)]
    truth = [str(int(t)) for t in y]
    half = len(truth) // 2
    state = tmp_path / "state" / "feedback.json"
    first = FeedbackCounter(CollectorRegistry(), state)
    first.count("iris", predicted[:half], truth[:half], 3, None)
    second = FeedbackCounter(registry := CollectorRegistry(), state)  # a restart: loads the tallies
    assert value(registry, "inferwatch_feedback_accuracy", model_name="iris", **{"class": ""}) == pytest.approx(
        sum(p == t for p, t in zip(predicted[:half], truth[:half], strict=True)) / half
    )
    second.count("iris", predicted[half:], truth[half:], 3, None)
    whole = FeedbackCounter(CollectorRegistry())
    whole.count("iris", predicted, truth, 3, None)
    assert second.summary("iris") == whole.summary("iris")
    state.write_text("{broken")
    assert FeedbackCounter(CollectorRegistry(), state).summary("iris")["instances"] == 0  # unreadable: start again


def test_new_class_names_past_the_limit_are_refused_and_counted() -> None:
    """Feedback naming ever new classes created series and tallies without limit (/metrics grew to 11.8 MB)."""
    counter = FeedbackCounter(registry := CollectorRegistry(), max_labels=3)
    counter.count("iris", ["0", "1"], ["0", "2"], None, None)
    before = registry.get_sample_value("seldon_api_model_feedback_total", {"model_name": "iris"})
    with pytest.raises(UnprocessableEntity, match=r"1 new class name\(s\) \(cat\) would take it past 3 classes"):
        counter.count("iris", ["cat"], ["0"], None, None)
    with pytest.raises(UnprocessableEntity, match="past 3 classes"):
        counter.count("iris", ["0"], ["0"], 10, None)  # score rows of 10 classes
    assert value(registry, "inferwatch_feedback_refused_total", what="classes") == 2
    assert registry.get_sample_value("seldon_api_model_feedback_total", {"model_name": "iris"}) == before
    assert (
        registry.get_sample_value("seldon_metric_true_positive_total", {"model_name": "iris", "class": "CLASS_cat"})
        is None
    )
    assert counter.count("iris", ["2"], ["2"], None, None) == 1  # known classes still count


def test_new_model_names_past_the_limit_are_refused_and_counted() -> None:
    counter = FeedbackCounter(registry := CollectorRegistry(), max_labels=2)
    counter.count("a", ["0"], ["0"], None, None)
    counter.count("b", ["0"], ["0"], None, None)
    with pytest.raises(UnprocessableEntity, match="model 'c' refused: feedback already counts 2 models"):
        counter.count("c", ["0"], ["0"], None, None)
    assert value(registry, "inferwatch_feedback_refused_total", what="models") == 1
    assert counter.summary("c")["instances"] == 0


def test_persisted_tallies_past_a_lower_limit_keep_counting(tmp_path: Path) -> None:
    state = tmp_path / "feedback.json"
    FeedbackCounter(CollectorRegistry(), state).count("iris", ["0", "1", "2"], ["0", "1", "2"], None, None)
    lower = FeedbackCounter(CollectorRegistry(), state, max_labels=2)  # restarted with a lower limit
    assert lower.count("iris", ["2"], ["1"], None, None) == 0
    assert lower.summary("iris")["instances"] == 4
    with pytest.raises(UnprocessableEntity):
        lower.count("iris", ["3"], ["3"], None, None)


# --- HTTP and CloudEvents -------------------------------------------------------------------------------------


def test_send_feedback_counts_per_instance(client: TestClient, ks_core: DetectorCore, iris_model: Any) -> None:
    proba, y = iris_model
    body = feedback(proba.tolist(), [[int(t)] for t in y], reward=1.0)
    r = client.post("/send-feedback", json=body, headers={"ce-modelid": "iris"})
    assert r.status_code == 200, r.text
    summary = r.json()["jsonData"]
    y_pred = proba.argmax(axis=1)
    assert summary["instances"] == len(y) and summary["correct"] == int((y_pred == y).sum())
    assert summary["response_from"] == "feedback" and summary["model_name"] == "iris"
    assert_matches_sklearn(ks_core.registry, "iris", y, y_pred)


def test_binary_one_hot_truth(client: TestClient, ks_core: DetectorCore) -> None:
    """A two-class model: class CLASS_1's series are Seldon's binary counters."""
    response = [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]]
    truth = [[1, 0], [0, 1], [1, 0], [0, 1]]
    assert client.post("/send-feedback", json=feedback(response, truth)).status_code == 200
    cls1 = {"model_name": "detector", "class": "CLASS_1"}
    got = [value(ks_core.registry, f"seldon_metric_{m}_total", **cls1) for m in ("true_positive", "false_positive")]
    got += [value(ks_core.registry, f"seldon_metric_{m}_total", **cls1) for m in ("true_negative", "false_negative")]
    assert got == [1, 1, 1, 1]


def test_cloudevent_feedback_is_answered_as_feedback_metrics(client: TestClient, ks_core: DetectorCore) -> None:
    r = client.post("/", content=orjson.dumps(feedback([[0.1, 0.9, 0.0]], [[1]])), headers=CE_FEEDBACK)
    assert r.status_code == 200, r.text
    assert r.headers["ce-type"] == "io.seldon.serving.feedback.metrics"
    assert r.headers["ce-id"] == "fb-1" and r.headers["ce-requestid"] == "req-7"
    assert r.json()["request_id"] == "req-7"
    assert value(ks_core.registry, "seldon_metric_true_positive_total", model_name="iris", **{"class": "CLASS_1"}) == 1
    assert ks_core.window.received == 0  # a feedback is not detector input


# --- look-up by request id ------------------------------------------------------------------------------------


def log_exchange(store: Path, request_id: str, response: dict[str, Any]) -> None:
    """Write a record as the logger does (``RecordBuilder`` + ``SQLiteSink``)."""
    request = {"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}
    now = time.time()
    exchange = Exchange(
        request_id,
        now,
        now + 0.01,
        Body(orjson.dumps(request), "application/json"),
        Body(orjson.dumps(response), "application/json"),
        status_code=200,
        path="/api/v1.0/predictions",
        model_name="iris",
    )
    sink = SQLiteSink(store)
    sink.write([RecordBuilder().build(exchange)])
    sink.close()


@pytest.fixture
def store_client(ks_core: DetectorCore, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    store = tmp_path / "records.db"
    settings = ks_core.settings.model_copy(update={"feedback_store": f"sqlite://{store}"})
    with TestClient(create_app(settings, ks_core)) as c:
        yield c, store


def test_feedback_by_request_id_reads_the_logged_response(
    store_client: tuple[TestClient, Path], ks_core: DetectorCore
) -> None:
    client, store = store_client
    log_exchange(store, "req-a", {"data": {"ndarray": [[0.05, 0.15, 0.8], [0.6, 0.3, 0.1]]}})
    log_exchange(store, "req-ab", {"data": {"ndarray": [[0.9, 0.05, 0.05]]}})  # a prefix of no concern
    r = client.post("/send-feedback", json=feedback(None, [[2], [1]]), headers={"x-request-id": "req-a"})
    assert r.status_code == 200, r.text
    summary = r.json()["jsonData"]
    assert summary["predicted"] == ["CLASS_2", "CLASS_0"] and summary["truth"] == ["CLASS_2", "CLASS_1"]
    assert summary["model_name"] == "iris" and summary["response_from"].startswith("sqlite store")
    assert value(ks_core.registry, "seldon_metric_false_negative_total", model_name="iris", **{"class": "CLASS_1"}) == 1
    by_puid = feedback(None, [[0]], request={"meta": {"puid": "req-ab"}, "data": {"ndarray": [[1, 2, 3, 4]]}})
    r = client.post("/send-feedback", json=by_puid)
    assert r.status_code == 200, r.text
    assert r.json()["jsonData"]["request_id"] == "req-ab" and r.json()["jsonData"]["correct"] == 1


def test_unknown_request_id_is_404_naming_the_store(store_client: tuple[TestClient, Path]) -> None:
    client, store = store_client
    r = client.post("/send-feedback", json=feedback(None, [[1]]), headers={"seldon-puid": "nope"})
    assert r.status_code == 404
    assert "'nope' not found" in r.json()["error"]["message"] and str(store) in r.json()["error"]["message"]
    r = client.post("/send-feedback", json=feedback(None, [[1]]))
    assert r.status_code == 400 and "no request id" in r.json()["error"]["message"]


def test_a_store_that_cannot_be_read_is_503(store_client: tuple[TestClient, Path], ks_core: DetectorCore) -> None:
    client, store = store_client
    with sqlite3.connect(store) as db:  # the embedded store, broken under the detector
        db.execute("DROP TABLE records")
    r = client.post("/send-feedback", json=feedback(None, [[1]]), headers={"x-request-id": "req-a"})
    assert r.status_code == 503 and "no such table" in r.json()["error"]["message"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        uri = f"elasticsearch://127.0.0.1:{s.getsockname()[1]}?request_timeout=1"  # a node that is not there
    with TestClient(create_app(ks_core.settings.model_copy(update={"feedback_store": uri}), ks_core)) as down:
        r = down.post("/send-feedback", json=feedback(None, [[1]]), headers={"x-request-id": "req-a"})
    assert r.status_code == 503
    assert r.json()["error"]["type"] == "NotReady" and ": search failed: " in r.json()["error"]["message"]


def test_no_response_and_no_store_is_400(client: TestClient) -> None:
    r = client.post("/send-feedback", json=feedback(None, [[1]]), headers={"x-request-id": "r1"})
    assert r.status_code == 400
    assert "--feedback-store" in r.json()["error"]["message"] and "include the response" in r.json()["error"]["message"]


# --- bad input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"{not json", 400, "Seldon Feedback"),
        (orjson.dumps({"response": {"data": {"ndarray": [[0.1, 0.9]]}}}), 400, "no 'truth'"),
        (orjson.dumps({"truth": [1], "response": {"data": {"ndarray": [[0.1, 0.9]]}}}), 400, "'truth'"),
        (orjson.dumps({"truth": {"strData": "1"}, "response": {"data": {"ndarray": [1]}}}), 400, "'truth' carries no"),
        (orjson.dumps({"truth": {"data": {"ndarray": [1]}}, "response": {"meta": {}}}), 400, "'response' carries no"),
        (orjson.dumps(feedback([[0.1, 0.9, 0.0]], [[1]], reward="high")), 400, "'reward' must be a number"),
        (orjson.dumps(feedback([[0.1, 0.9, 0.0]] * 2, [[1]])), 422, "truth has 1 instance(s), the response 2"),
        (orjson.dumps(feedback([[0.1, 0.9, 0.0]], [[0, 1]])), 422, "truth rows have 2 classes, response rows 3"),
        (orjson.dumps(feedback([[0.1, 0.9, 0.0]], [[7]])), 422, "'truth' class '7'"),
    ],
)
def test_bad_feedback(client: TestClient, body: bytes, status: int, needle: str) -> None:
    r = client.post("/send-feedback", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]["message"]
