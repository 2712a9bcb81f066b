"""The logger in proxy mode in front of REAL peer model servers: Seldon Core's Python wrapper
(`seldon-core-microservice`, Seldon v1) and MLServer (V2), each in its own venv (devstack.peers)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

PEERS = Path(__file__).parents[1] / "testdata" / "peers"
SELDON_KINDS = ["ndarray", "tensor", "tftensor", "strdata", "jsondata", "bindata"]


def _body(name: str) -> Any:
    return json.loads((PEERS / f"{name}_request.json").read_text())


@pytest.mark.parametrize("kind", SELDON_KINDS)
def test_every_seldon_data_kind_is_logged(run_logger, seldon_model_server, kind: str) -> None:
    body = _body(f"seldon_{kind}")
    direct = httpx.post(seldon_model_server.predictions_url, json=body, timeout=30)
    assert direct.status_code == 200, direct.text
    with run_logger(upstream=seldon_model_server.url) as lg:
        r = httpx.post(f"{lg.url}/api/v1.0/predictions", json=body, timeout=30)
        assert r.status_code == 200
        assert _strip_puid(r.json()) == _strip_puid(direct.json())
        rec = lg.wait_record(r.headers["x-request-id"])
    assert rec.protocol == "seldon" and rec.status_code == 200 and rec.flags == []
    assert json.loads(rec.request.raw) == body
    assert rec.request.decoded is not None and rec.response.decoded is not None
    if kind in ("ndarray", "tensor", "tftensor"):
        assert len(rec.instances) == len(np.asarray(_matrix(body)))
        probs = [list(inst["response"].values()) for inst in rec.instances]
        assert all(abs(sum(p) - 1.0) < 1e-6 for p in probs)
    if kind == "bindata":  # the response is the .npy bytes of the probabilities, kept decodable
        raw = base64.b64decode(json.loads(rec.response.raw)["binData"])
        assert np.load(io.BytesIO(raw)).shape == (2, 3)


def test_seldon_model_error_passes_through_and_is_logged(run_logger, seldon_model_server) -> None:
    body = _body("seldon_wrong_shape")
    with run_logger(upstream=seldon_model_server.url) as lg:
        r = httpx.post(f"{lg.url}/api/v1.0/predictions", json=body, timeout=30)
        assert r.status_code == 500
        assert "expected instances of 4 features" in r.json()["status"]["info"]
        rec = lg.wait_record(r.headers["x-request-id"])
    assert rec.status_code == 500
    assert rec.response is not None and json.loads(rec.response.raw) == r.json()


def test_seldon_puid_is_the_request_id(run_logger, seldon_model_server) -> None:
    with run_logger(upstream=seldon_model_server.url) as lg:
        r = httpx.post(
            f"{lg.url}/api/v1.0/predictions",
            json=_body("seldon_ndarray"),
            headers={"Seldon-Puid": "puid-from-caller"},
            timeout=30,
        )
        assert r.status_code == 200 and r.headers["x-request-id"] == "puid-from-caller"
        assert lg.wait_record("puid-from-caller").status_code == 200


def test_mlserver_single_tensor_is_logged(run_logger, mlserver_model_server) -> None:
    body = _body("mlserver_iris_single")
    with run_logger(upstream=mlserver_model_server.url) as lg:
        r = httpx.post(f"{lg.url}/v2/models/iris/infer", json=body, timeout=30)
        assert r.status_code == 200, r.text
        rec = lg.wait_record(r.headers["x-request-id"])
    assert rec.protocol == "v2" and rec.model_name == "iris" and rec.flags == []
    assert r.json()["model_name"] == "iris"
    assert rec.response.decoded["tensors"][0]["name"] == r.json()["outputs"][0]["name"]


def test_mlserver_multi_input_request_is_logged_with_every_input(run_logger, mlserver_model_server) -> None:
    body = _body("mlserver_multi_input")
    with run_logger(upstream=mlserver_model_server.url) as lg:
        r = httpx.post(f"{lg.url}/v2/models/iris-features/infer", json=body, timeout=30)
        assert r.status_code == 200, r.text
        rid = r.headers["x-request-id"]
        assert rid == body["id"]
        rec = lg.wait_record(rid)
    names = [i["name"] for i in body["inputs"]]
    assert [t["name"] for t in rec.request.decoded["tensors"]] == names
    n = body["inputs"][0]["shape"][0]
    assert len(rec.instances) == n
    first = rec.instances[0]["request"]
    assert set(first) == set(names)
    assert first["sepal_length"] == pytest.approx(body["inputs"][0]["data"][0])
    assert rec.instances[0]["response"] is not None


def test_mlserver_error_passes_through(run_logger, mlserver_model_server) -> None:
    body = _body("mlserver_unknown_model")
    with run_logger(upstream=mlserver_model_server.url) as lg:
        r = httpx.post(f"{lg.url}/v2/models/no-such-model/infer", json=body, timeout=30)
        assert r.status_code == 404
        rec = lg.wait_record(r.headers["x-request-id"])
    assert rec.status_code == 404 and rec.model_name == "no-such-model"


def _matrix(body: dict[str, Any]) -> Any:
    data = body["data"]
    if "ndarray" in data:
        return data["ndarray"]
    if "tensor" in data:
        return np.asarray(data["tensor"]["values"]).reshape(data["tensor"]["shape"])
    shape = [int(d["size"]) for d in data["tftensor"]["tensorShape"]["dim"]]
    vals = next(v for k, v in data["tftensor"].items() if k.endswith("Val"))
    return np.asarray(vals).reshape(shape)


def _strip_puid(body: dict[str, Any]) -> dict[str, Any]:
    meta = dict(body.get("meta", {}))
    meta.pop("puid", None)
    return {**body, "meta": meta}
