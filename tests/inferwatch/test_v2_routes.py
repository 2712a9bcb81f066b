"""The V2 surface the detector and the explainer share: metadata of the served model only, readiness and
liveness from the service's own probes (503 when a probe fails), 404 naming the served model otherwise."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from inferwatch import __version__
from inferwatch.health import Check, Health
from inferwatch.v2_routes import add_v2_routes
from inferwatch.web import install_error_handler


def _client(ready: list[bool], live: list[bool]) -> TestClient:
    probes = Health()
    probes.readiness("fitted", lambda: Check(ready[0], None if ready[0] else "not fitted yet"))
    probes.liveness("worker", lambda: Check(live[0], None if live[0] else "worker died"))
    app = FastAPI()
    install_error_handler(app)
    add_v2_routes(app, "m", lambda: {"name": "m", "platform": "p"}, probes, extensions=["binary_tensor_data"])
    return TestClient(app)


def test_server_and_model_metadata() -> None:
    client = _client([True], [True])
    assert client.get("/v2").json() == {
        "name": "inferwatch",
        "version": __version__,
        "extensions": ["binary_tensor_data"],
    }
    assert client.get("/v2/models/m").json() == {"name": "m", "platform": "p"}
    r = client.get("/v2/models/x")
    assert r.status_code == 404 and r.json()["error"]["message"] == "model 'x' not found; this server serves 'm'"


def test_readiness_and_liveness_follow_the_probes() -> None:
    ready, live = [False], [True]
    client = _client(ready, live)
    assert (client.get("/v2/models/m/ready").status_code, client.get("/v2/health/ready").json()) == (
        503,
        {"ready": False},
    )
    ready[0] = True
    assert client.get("/v2/models/m/ready").json() == {"name": "m", "ready": True}
    assert client.get("/v2/health/live").status_code == 200
    live[0] = False
    assert (client.get("/v2/health/live").status_code, client.get("/v2/health/ready").status_code) == (503, 503)
