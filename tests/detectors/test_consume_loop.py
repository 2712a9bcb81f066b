"""``RecordDetector.consume`` driven by a fake consumer (the real Kafka is in test_consume.py): a batch delivered
again after a crash counts once, and a time window closes when no record follows."""

from __future__ import annotations

import time
from collections import namedtuple
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from inferwatch.detectors.consume import RecordDetector, kafka_record_id
from inferwatch.detectors.core import DetectorCore
from inferwatch.sources.kafka import consume

Array = np.ndarray[Any, Any]
MakeCore = Callable[..., DetectorCore]
Message = namedtuple("Message", "topic partition offset value")


def _records(rows: Array, names: list[str], first_offset: int = 0) -> list[Message]:
    out = []
    for i, row in enumerate(rows):
        record = {
            "id": f"req-{first_offset + i}",
            "received_at": "2026-12-01T00:00:00Z",
            "instances": [{"request": dict(zip(names, row.tolist(), strict=True))}],
        }
        out.append(Message("records", 0, first_offset + i, orjson.dumps(record)))
    return out


class FakeConsumer:
    """Hands out the given batches one poll at a time, then nothing (after ``poll_seconds``, as a poll waits)."""

    def __init__(self, batches: list[list[Message]], poll_seconds: float = 0.0) -> None:
        self.batches = list(batches)
        self.poll_seconds = poll_seconds
        self.commits = 0

    def poll(self, timeout_ms: int, max_records: int) -> dict[str, list[Message]]:
        if self.batches:
            return {"tp": self.batches.pop(0)}
        time.sleep(self.poll_seconds)
        return {}

    def commit(self) -> None:
        self.commits += 1


class Crash(Exception):
    pass


def test_a_batch_delivered_again_after_a_crash_counts_once(
    ks_dir: Path, tmp_path: Path, make_core: MakeCore, undrifted: Array, iris_names: list[str]
) -> None:
    records = _records(undrifted[:30], iris_names)
    first = make_core(ks_dir, tmp_path / "s", batch_size=20)
    windows: list[dict[str, Any]] = []
    first.on_window = windows.append
    crashing = FakeConsumer([records[:10], records[10:25]])

    def handle_then_crash(m: Message) -> None:  # the process dies after the second batch, before its commit
        detector.process(m.value, kafka_record_id(m))
        if m.offset == 24:
            raise Crash

    detector = RecordDetector(first)
    with pytest.raises(Crash):
        consume(crashing, handle_then_crash)
    assert crashing.commits == 1 and len(windows) == 1 and first.window.received == 5

    restarted = make_core(ks_dir, tmp_path / "s", batch_size=20)  # a new process: the same state directory
    restarted.on_window = windows.append
    again = FakeConsumer([records[10:30]])  # Kafka re-delivers from the last commit
    assert RecordDetector(restarted).consume(again, max_records=20) == 20
    assert restarted.window.received == 10 and len(windows) == 1  # 30 records: one window of 20, 10 pending
    assert restarted.registry.get_sample_value("inferwatch_detector_duplicates_total") == 15
    assert restarted.registry.get_sample_value("inferwatch_consumer_records_total", {"outcome": "duplicate"}) == 15
    assert restarted.registry.get_sample_value("inferwatch_consumer_records_total", {"outcome": "detected"}) == 5


def test_records_without_kafka_coordinates_are_all_counted(
    ks_dir: Path, tmp_path: Path, make_core: MakeCore, undrifted: Array, iris_names: list[str]
) -> None:
    core = make_core(ks_dir, tmp_path / "s", batch_size=50)
    detector = RecordDetector(core)
    value = _records(undrifted[:1], iris_names)[0].value
    detector.process(value)
    detector.process(value)
    assert core.window.received == 2


def test_a_time_window_closes_without_a_following_record(
    ks_dir: Path, tmp_path: Path, make_core: MakeCore, drifted: Array, iris_names: list[str]
) -> None:
    core = make_core(ks_dir, tmp_path / "s", batch_size=1000, window_seconds=0.3)
    windows: list[dict[str, Any]] = []
    core.on_window = windows.append  # what start_results hooks to the results sinks
    consumer = FakeConsumer([_records(drifted[:25], iris_names)], poll_seconds=0.05)
    started = time.monotonic()
    RecordDetector(core).consume(consumer, idle_timeout=1.0)
    assert time.monotonic() - started < 5
    assert core.window.received == 0
    assert [(w["data"]["trigger"], w["data"]["window_size"], w["data"]["is_drift"]) for w in windows] == [
        ("time", 25, 1)
    ]


def test_seldon_halves_go_through_the_shared_decoding_path(
    ks_dir: Path, tmp_path: Path, make_core: MakeCore, iris_names: list[str]
) -> None:
    """Seldon Core v1 executor halves (as it logs them to Kafka): a request half is detected at once (no pairing
    needed), a response half holds no request and is skipped, poison is unusable."""
    from inferwatch.sources.messages import Message as KafkaMessage
    from tests.consumers.kafka_data import seldon_v1_half

    core = make_core(ks_dir, tmp_path / "s", batch_size=50)
    detector = RecordDetector(core)
    req_headers, req_value = seldon_v1_half("request", "s-1")
    resp_headers, resp_value = seldon_v1_half("response", "s-1")
    assert detector.process_message(KafkaMessage("logs", 0, 1, req_value, None, tuple(req_headers))) is not None
    assert core.window.received == 2  # the executor's request holds two iris rows
    assert detector.process_message(KafkaMessage("logs", 0, 2, resp_value, None, tuple(resp_headers))) is None
    assert detector.process_message(KafkaMessage("logs", 0, 3, b"\x00junk")) is None
    counts = {
        s.labels["outcome"]: s.value
        for m in core.registry.collect()
        for s in m.samples
        if m.name == "inferwatch_consumer_records" and s.name.endswith("_total")
    }
    assert counts == {"detected": 1.0, "skipped": 1.0, "unusable": 1.0}
