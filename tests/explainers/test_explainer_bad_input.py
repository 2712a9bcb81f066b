"""Every bad input answers a precise status: 422 feature count, 502 unreachable / model error, 504 timeout."""

from __future__ import annotations

import asyncio
import threading

import httpx
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from inferwatch.demo.model_server import create_model_app, train_iris
from tests.explainers.conftest import SETOSA, explainer
from tests.servers import serving


def test_wrong_feature_count_is_422_with_expected_and_received(demo_model: str) -> None:
    with explainer(kind="anchor_tabular", model_url=demo_model) as (url, _):
        r = httpx.post(f"{url}/explain", json={"instances": [[1.0, 2.0, 3.0]]}, timeout=30)
        assert r.status_code == 422
        error = r.json()["error"]
        assert error["details"] == {"expected": 4, "received": 3}
        assert "expected 4 features" in error["message"]
        r = httpx.post(f"{url}/api/v1.0/explain", json={"data": {"ndarray": [[1, 2, 3, 4, 5]]}}, timeout=30)
        assert r.status_code == 422 and r.json()["error"]["details"]["received"] == 5


def test_malformed_bodies_and_unknown_parameters(demo_model: str) -> None:
    with explainer(kind="anchor_tabular", model_url=demo_model) as (url, _):
        assert httpx.post(f"{url}/explain", content=b"{not json", timeout=30).status_code == 400
        assert httpx.post(f"{url}/explain", json={"rows": []}, timeout=30).status_code == 400
        assert httpx.post(f"{url}/api/v1.0/explain", json={"data": 3}, timeout=30).status_code == 400
        r = httpx.post(f"{url}/explain", json={"instances": [SETOSA], "parameters": {"nsamples": 5}}, timeout=30)
        assert r.status_code == 422
        assert r.json()["error"]["details"]["received"] == ["nsamples"]
        assert "threshold" in r.json()["error"]["details"]["allowed"]


def test_model_unreachable_is_502_naming_the_url() -> None:
    model_app = create_model_app(train_iris())
    with serving(model_app) as model_url:
        cm = explainer(kind="anchor_tabular", model_url=model_url, retries=1, backoff=0.01)
        url, _ = cm.__enter__()
    try:  # the model is gone now; the explainer is still up
        r = httpx.post(f"{url}/explain", json={"instances": [SETOSA]}, timeout=30)
        assert r.status_code == 502
        assert f"{model_url}/api/v1.0/predictions" in r.json()["error"]["message"]
        assert "unreachable" in r.json()["error"]["message"]
    finally:
        cm.__exit__(None, None, None)


def _flaky_model(fail: threading.Event, delay: threading.Event) -> Starlette:
    """An iris model that answers a Seldon 500 while ``fail`` is set and sleeps 3 s while ``delay`` is set."""
    model = train_iris()

    async def predict(request: Request) -> JSONResponse:
        if fail.is_set():
            status = {"code": -1, "info": "model exploded: out of memory", "reason": "MICROSERVICE_INTERNAL_ERROR"}
            return JSONResponse({"status": {**status, "status": "FAILURE"}}, status_code=500)
        if delay.is_set():
            await asyncio.sleep(3)
        rows = np.asarray((await request.json())["data"]["ndarray"], dtype=float)
        return JSONResponse({"data": {"ndarray": model.estimator.predict_proba(rows).tolist()}})

    return Starlette(routes=[Route("/api/v1.0/predictions", predict, methods=["POST"])])


def test_model_error_is_502_with_the_model_message_and_timeout_is_504() -> None:
    fail, delay = threading.Event(), threading.Event()
    with (
        serving(_flaky_model(fail, delay)) as model_url,
        explainer(kind="anchor_tabular", model_url=model_url, timeout=1.0, retries=0) as (url, core),
    ):
        fail.set()
        r = httpx.post(f"{url}/explain", json={"instances": [SETOSA]}, timeout=30)
        assert r.status_code == 502
        assert "model exploded: out of memory" in r.json()["error"]["message"]
        fail.clear()
        delay.set()
        r = httpx.post(f"{url}/explain", json={"instances": [SETOSA]}, timeout=30)
        assert r.status_code == 504
        assert "longer than 1.0s" in r.json()["error"]["message"]
        delay.clear()
        # the abandoned explanation gives way; the next one succeeds
        r = httpx.post(f"{url}/explain", json={"instances": [SETOSA]}, timeout=30)
        assert r.status_code == 200, r.text
        assert core.metrics.errors.labels("UpstreamTimeout")._value.get() == 1


def test_deep_json_is_400_and_a_body_over_the_limit_413_each_naming_its_flag(demo_model: str) -> None:
    deep = b'{"instances": [[1, 2, 3, 4]], "meta": ' + b"[" * 300 + b"]" * 300 + b"}"
    with explainer(kind="anchor_tabular", model_url=demo_model, max_body_bytes=10_000) as (url, core):
        for path in ("/explain", "/api/v1.0/explain", "/v2/models/model/infer", "/v1/models/model:explain"):
            r = httpx.post(url + path, content=deep, timeout=30)
            assert r.status_code == 400, (path, r.text)
            assert r.json()["error"]["details"] == {"limit": "json_depth"} and "--max-json-depth" in r.text
        r = httpx.post(url + "/explain", content=b'{"instances": [' + b"[1, 2, 3, 4]," * 2000 + b"[1, 2, 3, 4]]}")
        assert r.status_code == 413 and "--max-body-bytes" in r.json()["error"]["message"]
    rejected = core.metrics.registry.get_sample_value
    assert rejected("inferwatch_http_rejected_total", {"limit": "json_depth"}) == 4
    assert rejected("inferwatch_http_rejected_total", {"limit": "body_bytes"}) == 1
