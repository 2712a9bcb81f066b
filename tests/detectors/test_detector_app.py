"""The HTTP surface: graph component, V2, CloudEvents (real HTTP), metrics and bad input."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from inferwatch.detectors.app import create_app, create_detector_admin_app
from inferwatch.detectors.core import DetectorCore
from tests.servers import serving

MakeCore = Callable[..., DetectorCore]
CE = {
    "ce-id": "evt-1",
    "ce-source": "seldon/iris",
    "ce-type": "io.seldon.serving.inference.request",
    "ce-specversion": "1.0",
    "ce-requestid": "req-42",
    "ce-modelid": "classifier",
    "ce-namespace": "prod",
    "content-type": "application/json",
}


def seldon_body(x: Any, names: list[str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"ndarray": [list(map(float, r)) for r in x]}
    if names:
        data["names"] = names
    return {"data": data, "meta": {"puid": "p1"}}


def v2_body(x: Any, names: list[str]) -> dict[str, Any]:
    cols = [[float(r[j]) for r in x] for j in range(len(names))]
    return {
        "id": "v2-1",
        "inputs": [
            {"name": n, "datatype": "FP64", "shape": [len(c)], "data": c} for n, c in zip(names, cols, strict=True)
        ],
    }


@pytest.fixture
def ks_client(ks_core: DetectorCore) -> Iterator[TestClient]:
    with TestClient(create_app(ks_core.settings, ks_core)) as client:
        yield client


def test_predict_answers_seldon_jsondata(ks_client: TestClient, drifted: Any, iris_names: list[str]) -> None:
    for path in ("/predict", "/api/v1.0/predictions"):
        r = ks_client.post(path, json=seldon_body(drifted, iris_names))
        assert r.status_code == 200, r.text
        assert r.json()["jsonData"]["data"]["is_drift"] == 1


def test_transform_input_passes_payload_through_with_tags(ks_client: TestClient, drifted: Any) -> None:
    body = seldon_body(drifted[:10])
    r = ks_client.post("/transform-input", json=body)
    assert r.status_code == 200
    out = r.json()
    assert out["data"] == body["data"] and out["meta"]["puid"] == "p1"
    assert out["meta"]["tags"]["drift"]["data"] == {"pending": True, "window_size": 50, "received": 10}


def test_transform_output_tags_the_response(ks_client: TestClient, drifted: Any) -> None:
    body = seldon_body(drifted)
    out = ks_client.post("/transform-output", json=body).json()
    assert out["data"] == body["data"] and out["meta"]["tags"]["drift"]["data"]["is_drift"] == 1


def test_health_and_metadata(ks_client: TestClient, iris_names: list[str]) -> None:
    assert ks_client.get("/health/ping").text == "pong"
    assert ks_client.get("/health/status").json()["detector_type"] == "drift"
    assert [i["name"] for i in ks_client.get("/metadata").json()["inputs"]] == iris_names
    assert ks_client.get("/v2/health/live").json() == {"live": True}
    assert ks_client.get("/v2/health/ready").json() == {"ready": True}


def test_v2_reads_every_named_input_over_http(ks_core: DetectorCore, drifted: Any, iris_names: list[str]) -> None:
    reordered = list(reversed(iris_names))  # by name, not by position
    body = v2_body(drifted[:, ::-1], reordered)
    with serving(create_app(ks_core.settings, ks_core)) as url:
        r = httpx.post(f"{url}/v2/models/detector/infer", json=body)
        missing = httpx.post(f"{url}/v2/models/other/infer", json=body)
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    assert out["is_drift"]["data"] == [1] and out["is_drift"]["datatype"] == "INT64"
    assert out["p_val"]["shape"] == [4] and out["p_val"]["data"][0] < out["threshold"]["data"][0]
    assert r.json()["id"] == "v2-1" and r.json()["parameters"]["meta"]["name"] == "KSDrift"
    assert missing.status_code == 404


def test_v2_binary_tensor_extension_gives_the_json_answer(ks_core: DetectorCore, drifted: Any) -> None:
    from inferwatch.protocols.v2_binary import HEADER_LENGTH, encode_binary

    x = np.asarray(drifted, dtype=np.float32)
    doc = {"id": "bin-1", "inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32"}]}
    body, n = encode_binary(doc, {"x": x})
    as_json = {"id": "bin-1", "inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.tolist()}]}
    with serving(create_app(ks_core.settings, ks_core)) as url:
        binary = httpx.post(f"{url}/v2/models/detector/infer", content=body, headers={HEADER_LENGTH: str(n)})
        plain = httpx.post(f"{url}/v2/models/detector/infer", json=as_json)
        short = httpx.post(f"{url}/v2/models/detector/infer", content=body[:-4], headers={HEADER_LENGTH: str(n)})
        bad = httpx.post(f"{url}/v2/models/detector/infer", content=body, headers={HEADER_LENGTH: "lots"})
    assert binary.status_code == 200, binary.text
    out = {o["name"]: o["data"] for o in binary.json()["outputs"]}
    assert out == {o["name"]: o["data"] for o in plain.json()["outputs"]}
    assert out["is_drift"] == [1]
    assert short.status_code == 400 and "runs past the end of the body" in short.text
    assert bad.status_code == 400 and "Inference-Header-Content-Length" in bad.text


def test_cloudevent_answer_echoes_id_and_extensions(ks_core: DetectorCore, drifted: Any) -> None:
    with serving(create_app(ks_core.settings, ks_core)) as url:
        r = httpx.post(f"{url}/", json=seldon_body(drifted), headers=CE)
    assert r.status_code == 200, r.text
    assert r.headers["ce-id"] == "evt-1"
    assert r.headers["ce-type"] == "io.seldon.serving.inference.drift"
    assert r.headers["ce-requestid"] == "req-42" and r.headers["ce-modelid"] == "classifier"
    assert r.headers["ce-namespace"] == "prod" and r.headers["ce-specversion"] == "1.0"
    assert r.json()["data"]["is_drift"] == 1


def test_cloudevent_tf_body_and_reply_url(ks_dir: Path, tmp_path: Path, make_core: MakeCore, drifted: Any) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    got = threading.Event()
    sink = FastAPI()

    @sink.post("/")
    async def collect(request: Request) -> dict[str, bool]:
        received.append((dict(request.headers), await request.body()))
        got.set()
        return {"ok": True}

    with serving(sink) as sink_url:
        core = make_core(ks_dir, tmp_path / "s", batch_size=50, reply_url=sink_url, event_type="my.drift")
        with serving(create_app(core.settings, core)) as url:
            body = {"instances": [list(map(float, r)) for r in drifted]}
            r = httpx.post(f"{url}/", json=body, headers={**CE, "ce-protocol": "tensorflow"})
        assert got.wait(5)
    assert r.status_code == 200 and r.headers["ce-type"] == "my.drift"
    headers, forwarded = received[0]
    assert headers["ce-id"] == "evt-1" and headers["ce-type"] == "my.drift" and headers["ce-requestid"] == "req-42"
    assert forwarded == r.content


def test_outlier_cloudevent_type(iforest_dir: Path, tmp_path: Path, make_core: MakeCore, iris_x: Any) -> None:
    core = make_core(iforest_dir, tmp_path / "s", trust_artifacts=True)
    with TestClient(create_app(core.settings, core)) as client:
        r = client.post("/", json=seldon_body(iris_x[:2]), headers=CE)
    assert r.headers["ce-type"] == "io.seldon.serving.inference.outlier"
    assert r.json()["data"]["is_outlier"] == [0, 0]


def test_metrics_have_seldon_names_and_feature_labels(
    ks_core: DetectorCore, drifted: Any, iris_names: list[str]
) -> None:
    with TestClient(create_app(ks_core.settings, ks_core)) as client:
        client.post("/predict", json=seldon_body(drifted, iris_names))
    text = TestClient(create_detector_admin_app(ks_core)).get("/metrics").text
    assert f'seldon_metric_drift_is_drift{{feature="{iris_names[0]}"}} 1.0' in text
    assert f'seldon_metric_drift_is_drift{{feature="{iris_names[1]}"}} 0.0' in text
    assert 'seldon_metric_drift_is_drift{feature=""} 1.0' in text
    assert f'seldon_metric_drift_p_val{{feature="{iris_names[3]}"}}' in text
    assert 'seldon_metric_drift_threshold{feature=""} 0.0125' in text
    assert 'inferwatch_detector_duration_seconds_count{detector_type="drift"} 1.0' in text
    assert 'inferwatch_detector_instances_total{detector_type="drift"} 50.0' in text


def test_outlier_metrics(iforest_dir: Path, tmp_path: Path, make_core: MakeCore, iris_x: Any) -> None:
    core = make_core(iforest_dir, tmp_path / "s", trust_artifacts=True)
    core.detect(iris_x[:2])
    core.detect(np.array([[30.0, 30.0, -20.0, 40.0]] * 3))
    text = TestClient(create_detector_admin_app(core)).get("/metrics").text
    assert "seldon_metric_outlier_is_outlier_total 3.0" in text
    assert "seldon_metric_outlier_instance_score " in text


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"data": {"ndarray": [[1.0, 2.0, 3.0]]}}, 422, "received [1, 3]"),
        ({"data": {"ndarray": [["a", "b", "c", "d"]]}}, 422, "numeric"),
        ({"nothing": "here"}, 400, "cannot decode"),
    ],
)
def test_bad_input(ks_client: TestClient, body: dict[str, Any], status: int, fragment: str) -> None:
    r = ks_client.post("/predict", json=body)
    assert r.status_code == status, r.text
    assert fragment in r.json()["error"]["message"]


def test_wrong_shape_details(ks_client: TestClient) -> None:
    details = ks_client.post("/predict", json={"data": {"ndarray": [[1.0] * 6]}}).json()["error"]["details"]
    assert details["expected_shape"] == ["n", 4] and details["received_shape"] == [1, 6]


def test_unknown_protocol_is_400(ks_client: TestClient, drifted: Any) -> None:
    r = ks_client.post("/predict?protocol=carrier-pigeon", json=seldon_body(drifted))
    assert r.status_code == 400 and "unknown protocol" in r.json()["error"]["message"]
    r = ks_client.post("/", json=seldon_body(drifted), headers={**CE, "ce-protocol": "carrier-pigeon"})
    assert r.status_code == 400


def test_not_a_cloudevent_is_400(ks_client: TestClient, drifted: Any) -> None:
    r = ks_client.post("/", json=seldon_body(drifted))
    assert r.status_code == 400 and "not a CloudEvent" in r.json()["error"]["message"]


def test_time_window_closes_without_further_requests(
    ks_dir: Path, tmp_path: Path, make_core: MakeCore, drifted: Any
) -> None:
    core = make_core(ks_dir, tmp_path / "s", batch_size=1000, window_seconds=0.4)
    with serving(create_app(core.settings, core)) as url:
        first = httpx.post(f"{url}/predict", json=seldon_body(drifted[:20])).json()
        assert first["jsonData"]["data"]["pending"] is True
        deadline = time.monotonic() + 5
        while core.window.received and time.monotonic() < deadline:
            time.sleep(0.05)
    assert core.window.received == 0
    assert core.last_result is not None and core.last_result["data"]["trigger"] == "time"
    text = TestClient(create_detector_admin_app(core)).get("/metrics").text
    assert 'inferwatch_detector_windows_total{trigger="time"} 1.0' in text


def test_cloudevent_with_v2_body_reads_named_inputs(ks_core: DetectorCore, drifted: Any, iris_names: list[str]) -> None:
    headers = {**CE, "ce-protocol": "v2", "ce-type": "io.seldon.serving.inference.request"}
    with serving(create_app(ks_core.settings, ks_core)) as url:
        r = httpx.post(f"{url}/", json=v2_body(drifted[:, ::-1], list(reversed(iris_names))), headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["ce-id"] == "evt-1" and r.json()["data"]["is_drift"] == 1
    assert r.json()["data"]["p_val"][0] < r.json()["data"]["threshold"]  # sepal length matched by name


def test_metadata_datatype_follows_the_reference(ks_client: TestClient) -> None:
    assert {i["datatype"] for i in ks_client.get("/metadata").json()["inputs"]} == {"FP64"}
