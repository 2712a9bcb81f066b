"""``consume replay`` against the real broker: from an offset (the command line, as users run it) and from a time,
it reproduces what the live indexer stored — the same records under the same ids — and commits to no group."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient

from inferwatch.consumers.replay import replay
from inferwatch.consumers.service import IndexService
from inferwatch.consumers.settings import IndexSettings, ReplaySettings
from inferwatch.stores import RecordQuery, open_store
from tests.consumers.kafka_data import (
    committed,
    create_topic,
    end_offsets,
    logger_records,
    produce,
    seldon_v1_half,
    write_logger_records,
)

pytestmark = pytest.mark.kafka


def _records(uri: str) -> dict[str, dict[str, Any]]:
    store = open_store(uri)
    try:
        return {r.id: r.to_dict() for r in store.query(RecordQuery(limit=100_000))}
    finally:
        store.close()


def _groups(bootstrap: str) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {str(g["group_id"]) for g in admin.list_groups()}
    finally:
        admin.close()


def test_replay_from_an_offset_and_from_a_time_reproduce_the_live_index(
    tmp_path: Path, kafka_bootstrap: str, unique_name: Any
) -> None:
    topic, group = unique_name("history"), unique_name("live")
    create_topic(kafka_bootstrap, topic, 3)
    write_logger_records(kafka_bootstrap, topic, logger_records(300, "old"))
    time.sleep(1.5)  # the second half is later by more than the timestamps' resolution
    middle = time.time()
    time.sleep(0.5)
    write_logger_records(kafka_bootstrap, topic, logger_records(200, "new"))
    halves = []
    for i in range(10):
        for kind in ("request", "response"):
            headers, value = seldon_v1_half(kind, f"pair-{i}")
            halves.append((headers, value, (i + len(kind)) % 3))
    produce(kafka_bootstrap, topic, halves)

    live = f"sqlite:///{tmp_path / 'live.db'}"
    service = IndexService(IndexSettings(bootstrap=kafka_bootstrap, topic=topic, group=group, sink=[live])).start()
    try:
        ends = end_offsets(kafka_bootstrap, topic)
        deadline = time.monotonic() + 60
        while committed(kafka_bootstrap, topic, group) != ends:
            assert time.monotonic() < deadline, "the live indexer did not finish"
            time.sleep(0.3)
    finally:
        service.stop()
    live_records = _records(live)
    assert len(live_records) == 510
    groups_before = _groups(kafka_bootstrap)

    from_zero = f"sqlite:///{tmp_path / 'replay.db'}"
    cli = subprocess.run(
        [sys.executable, "-m", "inferwatch.cli", "consume", "replay", "--bootstrap", kafka_bootstrap, "--topic", topic,
         "--from-offset", "0", "--sink", from_zero, "--no-progress"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert "replayed 520 of 520 messages" in cli.stderr
    assert _records(from_zero) == live_records  # the same records, ids, payloads and flags

    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(middle)) + f".{int(middle % 1 * 1000):03d}Z"
    recent = f"sqlite:///{tmp_path / 'recent.db'}"
    report = replay(
        ReplaySettings(bootstrap=kafka_bootstrap, topic=topic, from_time=since, sink=[recent]), progress=False
    )
    assert report.messages == report.planned == 220
    recent_records = _records(recent)
    assert set(recent_records) == {k for k in live_records if not k.startswith("old-")}
    assert all(recent_records[k] == live_records[k] for k in recent_records)
    assert _groups(kafka_bootstrap) == groups_before, "a replay joins no consumer group"


def test_replay_of_a_missing_topic_says_so(tmp_path: Path, kafka_bootstrap: str, unique_name: Any) -> None:
    cli = subprocess.run(
        [sys.executable, "-m", "inferwatch.cli", "consume", "replay", "--bootstrap", kafka_bootstrap, "--topic",
         unique_name("absent"), "--from-offset", "0", "--sink", f"sqlite:///{tmp_path / 'x.db'}", "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 2
    assert "does not exist" in cli.stderr and "nothing to replay" in cli.stderr
