"""The logger's /health/ready and /metrics say when a sink is blocked, and what to do about it (without taking the
logger out of service: its records wait in the spool)."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from inferwatch.capture import Body, Exchange
from inferwatch.logger.app import create_logger_admin_app
from inferwatch.logger.service import LoggerService
from inferwatch.logger.settings import LoggerSettings
from inferwatch.sinks.sqlite import SQLiteSink
from inferwatch.stores.sqlite import SQLiteStore

BODY = b'{"data": {"ndarray": [[1.0, 2.0]]}}'


def test_ready_names_a_blocked_sink_and_its_remedy_and_nothing_is_lost(tmp_path: Path) -> None:
    sink = SQLiteSink(tmp_path / "store.db")
    sink._db.execute("PRAGMA query_only = ON")  # a read-only store: someone has to act
    settings = LoggerSettings(metrics_port=0, linger_ms=5, spool_dir=tmp_path / "spool")
    service = LoggerService(settings, sinks=[sink])
    admin = TestClient(create_logger_admin_app(service))
    service.start()
    try:
        for i in range(5):
            t = time.time()
            body = Body(BODY, "application/json", len(BODY))
            assert service.record(Exchange(f"r{i}", t, t, body, body, 200, "POST", "/api/v1.0/predictions"))
        deadline = time.monotonic() + 20
        while (ready := admin.get("/health/ready")).json()["checks"]["sinks"]["sqlite"]["spooled"] < 5:
            assert time.monotonic() < deadline, ready.json()
            time.sleep(0.05)
        # the records are safe in the spool: the logger can still do its job, so it stays ready (the alert on
        # inferwatch_sink_blocked calls a person); the body says what is wrong and what to do
        assert ready.status_code == 200 and ready.json()["ready"] is True
        detail = ready.json()["checks"]["sinks"]["sqlite"]["detail"]
        assert detail.startswith("blocked (read_only):") and "writable" in detail
        assert 'inferwatch_sink_blocked{reason="read_only",sink="sqlite"} 1.0' in admin.get("/metrics").text
        with sink._lock:
            sink._db.execute("PRAGMA query_only = OFF")
    finally:
        service.stop()  # the next probe (here: the one on shutdown) delivers the spooled records
    store = SQLiteStore(tmp_path / "store.db")
    assert store.count() == 5
    store.close()
