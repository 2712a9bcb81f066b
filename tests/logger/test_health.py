"""The logger's probes on ``--metrics-port`` (and the receiver's own port): readiness is "can I do my job" — the
model answers (proxy) and the intake has room — while a sink that is down is only detail (its spool absorbs the
outage); liveness fails once a delivery thread has died."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from inferwatch.capture import Body, Exchange
from inferwatch.errors import SinkError
from inferwatch.logger.app import create_app, create_logger_admin_app
from inferwatch.logger.service import LoggerService
from inferwatch.logger.settings import LoggerSettings
from inferwatch.records import InferenceRecord
from inferwatch.sinks.base import SinkHealth
from tests.servers import free_port, serving


class DownSink:
    """Elasticsearch during an outage: every write fails (retriable), health says so."""

    name = "elasticsearch"

    def write(self, records: Sequence[InferenceRecord]) -> None:
        raise SinkError("connection refused", retriable=True)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def health(self) -> SinkHealth:
        return SinkHealth(False, "cannot connect to 127.0.0.1:9200")


async def model(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A model server: ``/ready`` answers 200, anything else 503."""
    if scope["type"] != "http":
        return
    status = 200 if scope["path"] == "/ready" else 503
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


@contextlib.contextmanager
def logger(tmp_path: Path, sinks: list[Any], **settings: Any) -> Iterator[tuple[LoggerService, TestClient]]:
    """A started logger (proxy mode if ``upstream`` is given, its lifespan running) and its admin app."""
    service = LoggerService(
        LoggerSettings(metrics_port=0, spool_dir=tmp_path / "spool", upstream_probe_seconds=0.1, **settings),
        sinks=sinks,
    )
    service.start()
    try:
        with serving(create_app(service)), TestClient(create_logger_admin_app(service)) as admin:
            yield service, admin
    finally:
        service.stop()


def wait_for(admin: TestClient, path: str, status: int, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = admin.get(path)
        if r.status_code == status or time.monotonic() > deadline:
            assert r.status_code == status, r.text
            body: dict[str, Any] = r.json()
            return body
        time.sleep(0.05)


def test_proxy_stays_ready_while_a_sink_is_down_and_shows_it(tmp_path: Path) -> None:
    with serving(model) as upstream, logger(tmp_path, [DownSink()], upstream=upstream) as (_, admin):
        body = wait_for(admin, "/health/ready", 200)
        assert body["ready"] is True and body["live"] is True
        sinks = body["checks"]["sinks"]
        assert sinks["ok"] is False and sinks["affects"] == "detail"
        assert sinks["elasticsearch"]["detail"] == "cannot connect to 127.0.0.1:9200"
        assert admin.get("/health/live").status_code == 200


def test_proxy_is_not_ready_while_its_model_is_unreachable(tmp_path: Path) -> None:
    with logger(tmp_path, [], upstream=f"http://127.0.0.1:{free_port()}") as (_, admin):
        body = wait_for(admin, "/health/ready", 503)
        assert body["checks"]["upstream"]["ok"] is False
        assert any(p.startswith("upstream: model server") and "unreachable" in p for p in body["problems"])
        assert admin.get("/health/live").status_code == 200, "an unreachable model is no reason to restart the logger"


@pytest.mark.parametrize(("path", "ready"), [("/ready", 200), ("/not-ready", 503)])
def test_proxy_readiness_follows_the_models_health_path(tmp_path: Path, path: str, ready: int) -> None:
    with serving(model) as upstream, logger(tmp_path, [], upstream=upstream, upstream_probe_path=path) as (_, admin):
        body = wait_for(admin, "/health/ready", ready)
        assert body["checks"]["upstream"]["status"] == (200 if ready == 200 else 503)


def test_receiver_stays_ready_while_a_sink_is_down(tmp_path: Path) -> None:
    with logger(tmp_path, [DownSink()]) as (service, admin):
        assert admin.get("/health/ready").status_code == 200
        with TestClient(create_app(service)) as public:  # the receiver answers the probes on its own port too
            r = public.get("/health/ready")
            assert r.status_code == 200 and r.json()["checks"]["sinks"]["ok"] is False
            assert public.get("/health/live").status_code == 200


def test_receiver_is_not_ready_once_its_intake_spool_is_full(tmp_path: Path) -> None:
    service = LoggerService(
        LoggerSettings(metrics_port=0, spool_dir=tmp_path / "spool", spool_max_bytes=8192, queue_size=5), sinks=[]
    )
    admin = TestClient(create_logger_admin_app(service))
    assert admin.get("/health/ready").status_code == 200
    body = b'{"data": {"ndarray": [[1, 2, 3, 4]]}}'
    accepted = [service.record(Exchange(f"r{i}", time.time(), request=Body(body))) for i in range(200)]
    assert not all(accepted)  # the builder is not running: memory, then the intake spool filled up
    r = admin.get("/health/ready")
    assert r.status_code == 503
    assert r.json()["checks"]["intake"]["ok"] is False and "intake spool is full" in r.json()["problems"][0]
    service.start()
    service.stop()


class Crash(BaseException):
    """Not an ``Exception``: nothing in the builder catches it, its thread dies."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_delivery_thread_fails_liveness(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    service = LoggerService(LoggerSettings(metrics_port=0, spool_dir=tmp_path / "spool"), sinks=[])
    admin = TestClient(create_logger_admin_app(service))
    service.start()
    try:
        assert admin.get("/health/live").status_code == 200

        def crash(ex: Exchange) -> InferenceRecord:
            raise Crash("bug")

        service.builder.build = crash  # type: ignore[method-assign]
        service.record(Exchange("r1", time.time()))
        body = wait_for(admin, "/health/live", 503)
        assert "record-builder" in body["problems"][0]
        assert admin.get("/health/ready").status_code == 503
        assert "record builder thread died" in caplog.text
        assert any(r.levelname == "CRITICAL" and "not live" in r.getMessage() for r in caplog.records)
    finally:
        service.stop()
