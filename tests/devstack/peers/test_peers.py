"""Smoke tests against the real peer servers: Seldon Core's Python wrapper and MLServer.

Also replays every golden exchange in ``tests/testdata/peers/`` (captured from these servers by
``capture_golden.py``) and checks the live answer still matches what was captured: exactly where the answer is
deterministic, model outputs within what training allows on another CPU (``golden.py`` says why).
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from devstack.peers.mlserver import IRIS, IRIS_FEATURES, MLServerServer
from devstack.peers.seldon import SeldonServer
from tests.devstack.peers.golden import assert_same_array, assert_same_json

pytestmark = [pytest.mark.peers, pytest.mark.slow]

GOLDEN = Path(__file__).resolve().parents[2] / "testdata" / "peers"
CLASSES = ["setosa", "versicolor", "virginica"]
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SETOSA, VIRGINICA = [5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]


def assert_probabilities(proba: Any, rows: int) -> np.ndarray:
    """``proba`` is a ``(rows, 3)`` matrix of probabilities, each row summing to 1."""
    array = np.asarray(proba, dtype=float)
    assert array.shape == (rows, 3)
    assert np.all((array >= 0) & (array <= 1))
    np.testing.assert_allclose(array.sum(axis=1), 1.0, rtol=1e-6)
    return array


def seldon_predict(server: SeldonServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(server.predictions_url, json=body, timeout=30)


# --- Seldon Core Python wrapper (Seldon v1) -------------------------------------------------------


def test_seldon_ndarray(seldon_model_server: SeldonServer) -> None:
    r = seldon_predict(seldon_model_server, {"data": {"names": FEATURES, "ndarray": [SETOSA, VIRGINICA]}})
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["names"] == CLASSES
    proba = assert_probabilities(data["ndarray"], 2)
    assert [CLASSES[i] for i in proba.argmax(axis=1)] == ["setosa", "virginica"]
    assert r.json()["meta"]["tags"]["model"] == "iris"


def test_seldon_tensor(seldon_model_server: SeldonServer) -> None:
    body = {"data": {"tensor": {"shape": [2, 4], "values": SETOSA + VIRGINICA}}}
    r = seldon_predict(seldon_model_server, body)
    assert r.status_code == 200
    tensor = r.json()["data"]["tensor"]
    assert tensor["shape"] == [2, 3]
    proba = assert_probabilities(np.reshape(tensor["values"], tensor["shape"]), 2)
    assert proba[0].argmax() == 0 and proba[1].argmax() == 2


def test_seldon_tftensor(seldon_model_server: SeldonServer) -> None:
    tftensor = {
        "dtype": "DT_DOUBLE",
        "tensorShape": {"dim": [{"size": "1"}, {"size": "4"}]},
        "doubleVal": VIRGINICA,
    }
    r = seldon_predict(seldon_model_server, {"data": {"tftensor": tftensor}})
    assert r.status_code == 200
    out = r.json()["data"]["tftensor"]
    assert out["dtype"] == "DT_DOUBLE"
    assert [int(d["size"]) for d in out["tensorShape"]["dim"]] == [1, 3]
    values = np.frombuffer(base64.b64decode(out["tensorContent"]), dtype="<f8")
    assert assert_probabilities(values.reshape(1, 3), 1).argmax() == 2


def test_seldon_strdata(seldon_model_server: SeldonServer) -> None:
    r = seldon_predict(seldon_model_server, {"strData": "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"})
    assert r.status_code == 200
    assert r.json()["strData"].splitlines() == ["setosa", "virginica"]


@pytest.mark.parametrize(
    ("json_data", "label"),
    [
        ({"instances": [SETOSA]}, "setosa"),
        ({"features": dict(zip(FEATURES, VIRGINICA, strict=True))}, "virginica"),
    ],
)
def test_seldon_jsondata(seldon_model_server: SeldonServer, json_data: dict[str, Any], label: str) -> None:
    r = seldon_predict(seldon_model_server, {"jsonData": json_data})
    assert r.status_code == 200
    answer = r.json()["jsonData"]
    assert answer["names"] == CLASSES
    assert answer["labels"] == [label]
    assert_probabilities(answer["probabilities"], 1)


def test_seldon_bindata(seldon_model_server: SeldonServer) -> None:
    buf = io.BytesIO()
    np.save(buf, np.array([SETOSA, VIRGINICA]), allow_pickle=False)
    r = seldon_predict(seldon_model_server, {"binData": base64.b64encode(buf.getvalue()).decode()})
    assert r.status_code == 200
    proba = np.load(io.BytesIO(base64.b64decode(r.json()["binData"])), allow_pickle=False)
    assert assert_probabilities(proba, 2).argmax(axis=1).tolist() == [0, 2]


def test_seldon_wrong_shape_is_500_with_status_body(seldon_model_server: SeldonServer) -> None:
    r = seldon_predict(seldon_model_server, {"data": {"ndarray": [[5.1, 3.5, 1.4]]}})
    assert r.status_code == 500
    status = r.json()["status"]
    assert status["reason"] == "MICROSERVICE_INTERNAL_ERROR"
    assert "4 features" in status["info"]
    assert status["status"] == 1


def test_seldon_unknown_kind_is_400(seldon_model_server: SeldonServer) -> None:
    r = seldon_predict(seldon_model_server, {"unknownKind": [1, 2]})
    assert r.status_code == 400
    assert r.json()["status"]["reason"] == "MICROSERVICE_BAD_DATA"


def test_seldon_metadata_and_health(seldon_model_server: SeldonServer) -> None:
    url = seldon_model_server.url
    meta = httpx.get(f"{url}/metadata", timeout=10).json()
    assert meta["name"] == "iris"
    assert meta["inputs"][0]["schema"]["names"] == FEATURES
    assert httpx.get(f"{url}/health/ping", timeout=10).status_code == 200
    assert httpx.get(f"{url}/api/v1.0/health/status", timeout=10).json()["strData"] == "healthy"
    assert seldon_model_server.model_name == "iris"


# --- MLServer (Open Inference Protocol / V2) ------------------------------------------------------


def v2_infer(server: MLServerServer, model: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(server.infer_url(model), json=body, timeout=30)


def test_mlserver_single_fp32_request(mlserver_model_server: MLServerServer) -> None:
    body = {"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [1, 4], "data": VIRGINICA}]}
    r = v2_infer(mlserver_model_server, IRIS, body)
    assert r.status_code == 200
    out = r.json()["outputs"]
    assert [(o["name"], o["shape"], o["datatype"]) for o in out] == [("predict", [1, 1], "INT64")]
    assert out[0]["data"] == [2]


def iris_proba(server: MLServerServer, rows: list[list[float]]) -> np.ndarray:
    body = {
        "inputs": [
            {
                "name": "input-0",
                "datatype": "FP32",
                "shape": [len(rows), 4],
                "data": [v for row in rows for v in row],
            }
        ],
        "outputs": [{"name": "predict_proba"}],
    }
    r = v2_infer(server, IRIS, body)
    assert r.status_code == 200
    (out,) = r.json()["outputs"]
    assert out["name"] == "predict_proba" and out["shape"] == [len(rows), 3]
    return assert_probabilities(np.reshape(out["data"], out["shape"]), len(rows))


def test_mlserver_multi_input_request(mlserver_model_server: MLServerServer) -> None:
    rows = [SETOSA, VIRGINICA, [5.9, 3.0, 4.2, 1.5]]
    columns = list(zip(*rows, strict=True))
    body = {
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": name, "datatype": "FP32", "shape": [len(rows), 1], "data": list(col)}
            for name, col in zip(FEATURES, columns, strict=True)
        ],
    }
    r = v2_infer(mlserver_model_server, IRIS_FEATURES, body)
    assert r.status_code == 200
    (out,) = r.json()["outputs"]
    proba = assert_probabilities(np.reshape(out["data"], out["shape"]), 3)
    assert proba.argmax(axis=1).tolist() == [0, 2, 1]
    # Same data through the single-tensor model: the four named columns were decoded as one row each.
    assert_same_array(proba, iris_proba(mlserver_model_server, rows), "pd columns vs one tensor")


def test_mlserver_model_metadata(mlserver_model_server: MLServerServer) -> None:
    assert set(mlserver_model_server.models) == {IRIS, IRIS_FEATURES}
    iris = httpx.get(f"{mlserver_model_server.url}/v2/models/{IRIS}", timeout=10).json()
    assert iris["name"] == IRIS
    assert iris["inputs"] == [{"name": "input-0", "datatype": "FP32", "shape": [-1, 4]}]
    features = httpx.get(f"{mlserver_model_server.url}/v2/models/{IRIS_FEATURES}", timeout=10).json()
    assert [i["name"] for i in features["inputs"]] == FEATURES
    assert features["parameters"]["content_type"] == "pd"
    assert httpx.get(f"{mlserver_model_server.url}/v2/health/ready", timeout=10).status_code == 200


def test_mlserver_errors_pass_through(mlserver_model_server: MLServerServer) -> None:
    good_input = [{"name": "input-0", "datatype": "FP32", "shape": [1, 4], "data": SETOSA}]
    r = v2_infer(mlserver_model_server, IRIS, {"inputs": good_input, "outputs": [{"name": "bogus"}]})
    assert r.status_code == 400
    assert "bogus" in r.json()["error"]
    r = v2_infer(mlserver_model_server, "no-such-model", {"inputs": good_input})
    assert r.status_code == 404
    assert "no-such-model" in r.json()["error"]
    # A model exception (wrong feature count) is an unhandled 500 with a plain-text body.
    wrong = [{"name": "input-0", "datatype": "FP32", "shape": [1, 3], "data": SETOSA[:3]}]
    r = v2_infer(mlserver_model_server, IRIS, {"inputs": wrong})
    assert r.status_code == 500


# --- golden files still match the live servers ----------------------------------------------------


GOLDEN_INDEX: list[dict[str, Any]] = json.loads((GOLDEN / "index.json").read_text())


@pytest.mark.parametrize("exchange", GOLDEN_INDEX, ids=[e["name"] for e in GOLDEN_INDEX])
def test_golden_exchange_replays(exchange: dict[str, Any], request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue(f"{exchange['server']}_model_server")
    url = server.url + exchange["path"]
    if exchange["method"] == "GET":
        r = httpx.get(url, timeout=30)
    else:
        body = (GOLDEN / f"{exchange['name']}_request.json").read_bytes()
        r = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == exchange["status"]
    golden = json.loads((GOLDEN / f"{exchange['name']}_response.json").read_bytes())
    assert_same_json(r.json(), golden)
