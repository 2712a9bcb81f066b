"""The detector's probes tell the truth: ``detector consume`` is not live once its consumer thread died (a commit
that failed after a rebalance, an error alibi-detect raised out of the loop) and not ready while it does not poll;
``detector serve`` is not live once its time-window ticker died. The real-Kafka case is in test_consume.py."""

from __future__ import annotations

import threading
import time
from collections import namedtuple
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from fastapi.testclient import TestClient
from kafka.errors import CommitFailedError

from inferwatch.detectors.app import create_app, create_detector_admin_app
from inferwatch.detectors.consume import RecordDetector
from inferwatch.detectors.core import DetectorCore

Array = np.ndarray[Any, Any]
MakeCore = Callable[..., DetectorCore]
Message = namedtuple("Message", "topic partition offset value")


class FakeConsumer:
    """One batch of records, then empty polls (``hang`` makes polls after the first block until it is set)."""

    def __init__(self, rows: Array, names: list[str], fail_commit: bool = False) -> None:
        records = [
            {
                "id": f"r{i}",
                "received_at": "2026-12-01T00:00:00Z",
                "instances": [{"request": dict(zip(names, r, strict=True))}],
            }
            for i, r in enumerate(rows.tolist())
        ]
        self.batches = [[Message("records", 0, i, orjson.dumps(rec)) for i, rec in enumerate(records)]]
        self.fail_commit = fail_commit
        self.hang: threading.Event | None = None

    def poll(self, timeout_ms: int, max_records: int) -> dict[str, list[Message]]:
        if self.batches:
            return {"tp": self.batches.pop(0)}
        if self.hang is not None:
            self.hang.wait()
        time.sleep(0.01)
        return {}

    def commit(self) -> None:
        if self.fail_commit:
            raise CommitFailedError("the group has already rebalanced and assigned the partitions to another member")

    def assignment(self) -> set[tuple[str, int]]:
        return {("records", 0)}


def wait_status(client: TestClient, path: str, status: int, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (r := client.get(path)).status_code != status and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_consumer_killed_by_a_failed_commit_is_not_live(
    ks_dir: Path, tmp_path: Path, make_core: MakeCore, undrifted: Array, iris_names: list[str], caplog: Any
) -> None:
    core = make_core(ks_dir, tmp_path / "s", batch_size=100)
    admin = TestClient(create_detector_admin_app(core))
    thread = RecordDetector(core).in_background(FakeConsumer(undrifted[:5], iris_names, fail_commit=True)).start()
    try:
        live = wait_status(admin, "/health/live", 503)
        assert "CommitFailedError" in live["problems"][0]
        ready = admin.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["live"] is False
    finally:
        thread.stop()
    assert any(r.levelname == "CRITICAL" and "consumer thread 'consume' died" in r.getMessage() for r in caplog.records)


class Broken:
    """An alibi-detect detector that raises out of ``predict``, as alibi does for input it cannot handle."""

    def predict(self, x: Array) -> Any:
        raise ValueError("operands could not be broadcast together")


def test_an_alibi_error_out_of_the_loop_kills_the_consumer_and_the_probe_says_so(
    ks_dir: Path, tmp_path: Path, make_core: MakeCore, undrifted: Array, iris_names: list[str]
) -> None:
    core = make_core(ks_dir, tmp_path / "s", batch_size=2)
    core.loaded.detector = Broken()
    admin = TestClient(create_detector_admin_app(core))
    thread = RecordDetector(core).in_background(FakeConsumer(undrifted[:5], iris_names)).start()
    try:
        body = wait_status(admin, "/health/live", 503)
        assert "ValueError: operands could not be broadcast together" in body["problems"][0]
    finally:
        thread.stop()


def test_a_consumer_is_ready_while_it_polls_and_not_once_it_stalls(
    ks_dir: Path, tmp_path: Path, make_core: MakeCore, undrifted: Array, iris_names: list[str]
) -> None:
    core = make_core(ks_dir, tmp_path / "s", batch_size=100)
    admin = TestClient(create_detector_admin_app(core))
    consumer = FakeConsumer(undrifted[:5], iris_names)
    thread = RecordDetector(core).in_background(consumer, stall_seconds=0.5)
    not_started = admin.get("/health/ready")
    assert not_started.status_code == 503, "not ready before the first poll"
    thread.start()
    try:
        body = wait_status(admin, "/health/ready", 200)
        assert body["checks"]["consumer-polling"]["assigned_partitions"] == 1
        consumer.hang = threading.Event()  # the next poll never returns (a wedged client)
        body = wait_status(admin, "/health/ready", 503)
        assert "no poll completed for" in body["problems"][0]
        assert admin.get("/health/live").status_code == 200, "a slow poll is no reason to restart"
    finally:
        assert consumer.hang is not None
        consumer.hang.set()
        thread.stop()


def test_a_dead_window_ticker_fails_liveness(ks_dir: Path, tmp_path: Path, make_core: MakeCore) -> None:
    core = make_core(ks_dir, tmp_path / "s", batch_size=100, window_seconds=0.2)

    def tick() -> None:
        raise ValueError("alibi failed on the window")

    core.tick = tick  # type: ignore[method-assign]
    with TestClient(create_app(core.settings, core)) as client:
        wait_status(client, "/v2/health/live", 503)
        assert client.get("/v2/health/live").json() == {"live": False}
        assert client.get("/health/ping").status_code == 503
        assert client.get("/v2/health/ready").json() == {"ready": False}
        status = client.get("/health/status")
        assert status.status_code == 503 and "window-ticker" in status.json()["problems"][0]
        admin = TestClient(create_detector_admin_app(core))
        assert "ValueError: alibi failed on the window" in admin.get("/health/live").json()["problems"][0]
