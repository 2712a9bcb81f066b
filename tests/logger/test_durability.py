"""`inferwatch logger --durability sync` as users run it: SIGKILL mid-stream, restart on the same spool,
and every request that was answered 200 is in the store exactly once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inferwatch.demo.model_server import create_model_app, train_iris
from inferwatch.stores import RecordQuery
from inferwatch.stores.sqlite import SQLiteStore
from tests.logger.processes import CLI, LoggerProcess
from tests.servers import free_port, serving


@pytest.fixture(scope="module")
def iris_url() -> Iterator[str]:
    with serving(create_model_app(train_iris())) as url:
        yield url


def Logger(tmp: Path, upstream: str, db: Path, *extra: str) -> LoggerProcess:
    return LoggerProcess(tmp, upstream, [f"sqlite:///{db}"], *extra)


def _stored(db: Path) -> list[str]:
    store = SQLiteStore(db)
    try:
        return [r.id for r in store.query(RecordQuery(limit=100_000))]
    finally:
        store.close()


def test_help_explains_the_durability_guarantees() -> None:
    out = subprocess.run([*CLI, "logger", "--help"], capture_output=True, text=True, check=True).stdout
    for word in ("--durability", "--spool-dir", "--spool-max-bytes", "in-memory", "fsynced", "spool_full"):
        assert word in out, word


def test_sigkill_mid_stream_with_sync_durability_loses_nothing_answered(tmp_path: Path, iris_url: str) -> None:
    db = tmp_path / "store.db"
    # a huge linger keeps every record in memory, so only the write-ahead log can bring them back
    hold = ("--linger-ms", "600000", "--batch-size", "100000")
    first = Logger(tmp_path, iris_url, db, "--durability", "sync", *hold)
    answered: list[str] = []
    attempted: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=5) as http:
            i = 0
            while not stop.is_set():
                rid = f"req-{uuid.uuid4().hex}"
                with lock:
                    attempted.append(rid)
                try:
                    r = http.post(
                        f"{first.url}/api/v1.0/predictions",
                        json={"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2 + i / 1000]]}},
                        headers={"x-request-id": rid},
                    )
                except httpx.TransportError:
                    return  # the logger is gone
                i += 1
                if r.status_code == 200 and r.headers["x-request-id"] == rid:
                    with lock:
                        answered.append(rid)

    senders = [threading.Thread(target=client) for _ in range(4)]
    for t in senders:
        t.start()
    deadline = time.monotonic() + 60
    while len(answered) < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.proc.kill()  # SIGKILL while requests are in flight
    first.end(signal.SIGKILL)
    stop.set()
    for t in senders:
        t.join(10)
    assert len(answered) >= 300, first.output()
    assert _stored(db) == [], "every record was still in memory when the logger died"
    assert list((tmp_path / "spool" / "intake-wal").glob("*.seg")), "the write-ahead log holds them"

    second = Logger(tmp_path, iris_url, db, "--durability", "sync", "--linger-ms", "5")
    try:
        deadline = time.monotonic() + 30
        while not set(answered) <= set(_stored(db)) and time.monotonic() < deadline:
            time.sleep(0.1)
        metrics = second.metrics()
    finally:
        code = second.end(signal.SIGTERM)
    assert code == 0, second.output()
    stored = _stored(db)
    assert len(stored) == len(set(stored)), "each request stored exactly once"
    assert set(answered) <= set(stored), f"{len(set(answered) - set(stored))} answered requests lost"
    # besides the answered ones, only requests in flight at the kill (at most one per sender) may be there
    extra = set(stored) - set(answered)
    assert extra <= set(attempted) and len(extra) <= len(senders)
    replayed = re.search(r'^inferwatch_spool_replayed_total\{sink="wal"\} (\S+)$', metrics, re.M)
    assert replayed and float(replayed.group(1)) >= len(answered)
    assert not list((tmp_path / "spool" / "intake-wal").glob("*.seg")), "a clean stop acknowledges everything"


def test_a_second_logger_on_the_same_spool_is_refused(tmp_path: Path, iris_url: str) -> None:
    running = Logger(tmp_path, iris_url, tmp_path / "a.db", "--durability", "sync")
    try:
        args = ["--upstream", iris_url, "--port", str(free_port()), "--metrics-port", "0", "--durability"]
        args += ["sync", "--spool-dir", str(tmp_path / "spool"), "--sink", f"sqlite:///{tmp_path}/b.db"]
        out = subprocess.run(
            [*CLI, "logger", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "INFERWATCH_HOME": str(tmp_path)},
        )
    finally:
        assert running.end(signal.SIGTERM) == 0
    assert out.returncode == 2 and "in use by another process" in out.stderr, out.stderr
