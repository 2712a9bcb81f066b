"""``inferwatch detector consume`` SIGKILLed mid-stream and started again (real Kafka): every record of the topic
gets its result in the results store — offsets are committed only once a batch's results are safe.

The results store is write-locked while the first process runs (another connection holds SQLite's write lock),
so none of its results reach the store before the kill although it commits offsets: each committed result must
come from the write-ahead log on the restart, or it is lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaAdminClient

from inferwatch.demo.model_server import FEATURES, write_iris_reference
from inferwatch.detectors.fit import fit_detector
from inferwatch.sinks import open_sink
from tests.detectors.test_consume import _records
from tests.servers import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
N = 3000


def _consume(tmp_path: Path, name: str, detector: Path, bootstrap: str, topic: str, group: str) -> tuple[Any, int]:
    port = free_port()
    argv = [sys.executable, "-m", "inferwatch.cli", "detector", "consume", "--detector", str(detector)]
    argv += ["--trust-artifacts", "--bootstrap", bootstrap, "--topic", topic, "--group", group]
    argv += ["--host", "127.0.0.1", "--metrics-port", str(port), "--state-dir", str(tmp_path / "state")]
    argv += ["--results-sink", f"sqlite:///{tmp_path / 'results.db'}", "--results-spool-dir", str(tmp_path / "spool")]
    out = (tmp_path / f"{name}.log").open("w")
    proc = subprocess.Popen(argv, env={**os.environ, "INFERWATCH_HOME": str(tmp_path)}, stdout=out, stderr=out)
    return proc, port


def _detected(port: int) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.TransportError:
        return 0.0
    for line in text.splitlines():
        if line.startswith('inferwatch_consumer_records_total{outcome="detected"}'):
            return float(line.split()[-1])
    return 0.0


def _results(db: Path) -> set[str]:
    if not db.exists():
        return set()
    with sqlite3.connect(db) as conn:
        try:
            return {rid for (rid,) in conn.execute("SELECT DISTINCT request_id FROM results")}
        except sqlite3.OperationalError:  # the table is created by the first write
            return set()


def test_a_consumer_killed_mid_stream_loses_no_result(tmp_path: Path, kafka_bootstrap: str, unique_name: Any) -> None:
    topic, group = unique_name("records-kill"), unique_name("g-kill")
    sink = open_sink(f"kafka://{kafka_bootstrap}?topic={topic}")
    sink.write(_records(N, shift=0.0))
    sink.close()
    ref = write_iris_reference(tmp_path / "iris.csv")
    fit_detector("iforest", ref, tmp_path / "od", feature_names=FEATURES, progress=False)
    open_sink(f"sqlite:///{tmp_path / 'results.db'}").close()  # the schema exists: the consumer starts
    blocker = sqlite3.connect(tmp_path / "results.db")
    blocker.execute("BEGIN EXCLUSIVE")  # no write reaches the store until the restart

    first, port = _consume(tmp_path, "first", tmp_path / "od", kafka_bootstrap, topic, group)
    deadline = time.monotonic() + 120
    while _detected(port) < 600:  # mid-stream: more than a poll's worth done, most of the topic still to go
        assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "first.log").read_text()
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    blocker.rollback()
    blocker.close()
    assert not _results(tmp_path / "results.db")  # the first process wrote no result to the store
    assert _committed(kafka_bootstrap, group, topic) > 0  # yet committed offsets: those results are in its log

    second, _ = _consume(tmp_path, "second", tmp_path / "od", kafka_bootstrap, topic, group)
    want = {f"r{i}" for i in range(N)}
    try:
        deadline = time.monotonic() + 180
        while not want <= (found := _results(tmp_path / "results.db")):
            assert second.poll() is None and time.monotonic() < deadline, (
                f"{len(want - found)} records without a result; {(tmp_path / 'second.log').read_text()[-3000:]}"
            )
            time.sleep(0.5)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0, (tmp_path / "second.log").read_text()[-3000:]


def _committed(bootstrap: str, group: str, topic: str) -> int:
    """The group's committed offsets on ``topic``, summed over its partitions."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets(group)[group]
    finally:
        admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)
