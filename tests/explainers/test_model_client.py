"""The black-box model client: batching, order, headers, protocols, errors and retries."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from inferwatch.demo.model_server import create_model_app, train_iris
from inferwatch.errors import UpstreamError, UpstreamTimeout
from inferwatch.explainers.client import ClientConfig, ModelClient
from tests.servers import free_port, serving


def _iris() -> np.ndarray[Any, Any]:
    from sklearn.datasets import load_iris

    return np.asarray(load_iris().data)


def _recording_model() -> tuple[Starlette, list[dict[str, Any]]]:
    """A Seldon model answering the row sums; records each call's headers and row count."""
    seen: list[dict[str, Any]] = []

    async def predict(request: Request) -> JSONResponse:
        body = await request.json()
        rows = np.asarray(body["data"]["ndarray"], dtype=float)
        seen.append({"skip": request.headers.get("seldon-skip-logging"), "rows": len(rows)})
        return JSONResponse({"data": {"ndarray": rows.sum(axis=1).tolist()}})

    return Starlette(routes=[Route("/api/v1.0/predictions", predict, methods=["POST"])]), seen


async def test_large_arrays_go_in_batches_in_order_with_skip_logging() -> None:
    app, seen = _recording_model()
    x = np.arange(2500 * 3, dtype=float).reshape(2500, 3)
    with serving(app) as url:
        client = ModelClient(ClientConfig(url=url, batch_size=1000))
        await client.start()
        try:
            out = await client.predict(x)
        finally:
            await client.close()
    np.testing.assert_allclose(out, x.sum(axis=1))
    assert sorted(c["rows"] for c in seen) == [500, 1000, 1000]
    assert {c["skip"] for c in seen} == {"true"}
    assert client.calls == 3


@pytest.mark.parametrize(("protocol", "output"), [("seldon", None), ("kserve-v1", None), ("v2", "predict_proba")])
async def test_each_protocol_against_the_demo_model(protocol: str, output: str | None) -> None:
    model = train_iris()
    x = _iris()[:7]
    with serving(create_model_app(model)) as url:
        client = ModelClient(ClientConfig(url=url, protocol=protocol, model_name="iris", model_output=output))
        await client.start()
        try:
            out = await client.predict(x)
        finally:
            await client.close()
    # V2 sends the datatype the model's metadata declares (FP32 here)
    np.testing.assert_allclose(out, model.estimator.predict_proba(x), rtol=1e-5, atol=1e-7)


async def test_predict_blocking_from_a_worker_thread() -> None:
    model = train_iris()
    with serving(create_model_app(model)) as url:
        client = ModelClient(ClientConfig(url=url))
        await client.start()
        try:
            out = await asyncio.to_thread(client.predict_blocking, _iris()[:3], 10.0)
        finally:
            await client.close()
    assert out.shape == (3, 3)


async def test_unreachable_model_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = ModelClient(ClientConfig(url=url, retries=2, backoff=0.01))
    await client.start()
    try:
        with pytest.raises(UpstreamError) as e:
            await client.predict(_iris()[:1])
    finally:
        await client.close()
    assert e.value.status_code == 502
    assert f"{url}/api/v1.0/predictions" in e.value.message


async def test_model_error_carries_the_model_message() -> None:
    with serving(create_model_app(train_iris())) as url:
        client = ModelClient(ClientConfig(url=url))
        await client.start()
        try:
            with pytest.raises(UpstreamError) as e:
                await client.predict(np.ones((2, 3)))
        finally:
            await client.close()
    assert e.value.status_code == 502
    assert "expected 4 features per instance" in e.value.message


async def test_slow_model_times_out() -> None:
    async def slow(_: Request) -> JSONResponse:
        await asyncio.sleep(2)
        return JSONResponse({"data": {"ndarray": [0]}})

    app = Starlette(routes=[Route("/api/v1.0/predictions", slow, methods=["POST"])])
    with serving(app) as url:
        client = ModelClient(ClientConfig(url=url, timeout=0.3, retries=1, backoff=0.01))
        await client.start()
        try:
            with pytest.raises(UpstreamTimeout) as e:
                await client.predict(np.ones((1, 4)))
        finally:
            await client.close()
    assert e.value.status_code == 504


async def test_retries_while_the_model_restarts() -> None:
    """The model goes away and comes back on the same port; the call waits for it with backoff."""
    model = train_iris()
    port = free_port()
    restarted = threading.Event()
    stop = threading.Event()

    def restart_later() -> None:
        time.sleep(0.6)
        with serving(create_model_app(model), port):
            restarted.set()
            stop.wait(30)

    with serving(create_model_app(model), port) as url:
        client = ModelClient(ClientConfig(url=url, retries=8, backoff=0.05))
        await client.start()
        first = await client.predict(_iris()[:2])  # keeps a pooled keep-alive connection
    thread = threading.Thread(target=restart_later)
    thread.start()
    try:
        second = await client.predict(_iris()[:2])  # refused at first, then answered after the restart
        assert restarted.is_set()
    finally:
        stop.set()
        thread.join(30)
        await client.close()
    np.testing.assert_allclose(first, second)
