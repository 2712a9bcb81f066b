"""The explainer's probes: ready only once it is fitted, live only while the workers it depends on run (result
delivery to ``--results-sink``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from inferwatch.delivery.pipeline import DeliveryOptions
from inferwatch.delivery.publisher import ResultPublisher
from inferwatch.explainers.app import create_app, create_explainer_admin_app
from inferwatch.explainers.core import ExplainerCore
from inferwatch.explainers.results import ExplainerResults
from inferwatch.explainers.settings import ExplainerSettings
from inferwatch.sinks.base import SinkHealth
from tests.explainers.conftest import IRIS_REFERENCE, SETOSA
from tests.servers import serving


class Crash(BaseException):
    """Not an ``Exception``: the sink worker does not catch it and its thread dies."""


class CrashingSink:
    name = "audit"

    def write(self, records: Sequence[Any]) -> None:
        raise Crash("sink client bug")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def health(self) -> SinkHealth:
        return SinkHealth(True)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_ready_once_fitted_and_not_live_once_result_delivery_died(demo_model: str, tmp_path: Path) -> None:
    settings = ExplainerSettings(
        kind="anchor_tabular", model_url=demo_model, reference=IRIS_REFERENCE, option=["target=species", "seed=0"]
    )
    core = ExplainerCore(settings)
    options = DeliveryOptions(linger=0.0, spool_dir=tmp_path / "spool")
    publisher = ResultPublisher([CrashingSink()], core.metrics.registry, options).start()  # type: ignore[list-item]
    admin = TestClient(create_explainer_admin_app(core))
    app = create_app(settings, core, ExplainerResults(settings, publisher))
    not_fitted = admin.get("/health/ready")
    assert not_fitted.status_code == 503 and "still being fitted" in not_fitted.json()["problems"][0]
    try:
        with serving(app) as url:
            assert admin.get("/health/ready").status_code == 200
            for path in ("/health/ping", "/health/live", "/v2/health/live"):
                assert httpx.get(url + path).status_code == 200
            r = httpx.post(f"{url}/explain", json={"instances": [SETOSA]}, headers={"x-request-id": "e1"}, timeout=60)
            assert r.status_code == 200  # answered; its result kills the sink's worker thread
            deadline = time.monotonic() + 10
            while (live := admin.get("/health/live")).status_code != 503 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert live.status_code == 503 and "sink-audit" in live.json()["problems"][0]
            for path in ("/health/ping", "/health/live", "/v2/health/live", "/health/ready", "/v2/health/ready"):
                assert httpx.get(url + path).status_code == 503, path
            assert httpx.get(f"{url}/v2/health/live").json() == {"live": False}
    finally:
        publisher.close()
