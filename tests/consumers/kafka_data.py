"""Messages as the three producers write them, for the consumers' tests: the logger's records (through the real
``kafka://`` sink), Seldon Core v1 executor halves (tests/testdata/kafka) and raw poison."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import TopicPartition

from inferwatch.capture import Body, Exchange, RecordBuilder
from inferwatch.records import InferenceRecord
from inferwatch.sinks import open_sink

DATA = Path(__file__).resolve().parents[1] / "testdata" / "kafka"
Headers = list[tuple[str, bytes]]


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()


def logger_records(n: int, prefix: str = "rec") -> list[InferenceRecord]:
    """``n`` records as the logger builds them from Seldon-protocol exchanges (ids ``<prefix>-<i>``)."""
    builder = RecordBuilder()
    out = []
    for i in range(n):
        req = json.dumps({"data": {"names": ["a", "b"], "ndarray": [[i, i + 0.5]]}}).encode()
        resp = json.dumps({"data": {"names": ["p"], "ndarray": [[i % 3]]}}).encode()
        now = time.time()
        ex = Exchange(
            request_id=f"{prefix}-{i}",
            received_at=now,
            responded_at=now + 0.002,
            method="POST",
            path="/api/v1.0/predictions",
            request=Body(req, "application/json", len(req)),
            response=Body(resp, "application/json", len(resp)),
            status_code=200,
            deployment="iris",
            namespace="default",
        )
        out.append(builder.build(ex))
    return out


def write_logger_records(bootstrap: str, topic: str, records: Sequence[InferenceRecord], chunk: int = 2000) -> None:
    """Through the logger's own ``kafka://`` sink (keyed by request id), ``chunk`` records per write."""
    sink = open_sink(f"kafka://{bootstrap}?topic={topic}")
    try:
        for start in range(0, len(records), chunk):
            sink.write(list(records[start : start + chunk]))
    finally:
        sink.close()


def seldon_v1_half(kind: str, request_id: str, row: Sequence[float] | None = None) -> tuple[Headers, bytes]:
    """Headers and value of a Seldon v1 executor half (testdata), under ``request_id``; ``row`` replaces the
    request's first row."""
    doc = json.loads((DATA / f"seldon_v1_{kind}.json").read_text())
    headers = dict(doc["headers"], requestid=request_id)
    value = doc["value"]
    if row is not None and kind == "request":
        value = {"data": {**value["data"], "ndarray": [list(row)]}}
    return [(k, v.encode()) for k, v in headers.items()], json.dumps(value).encode()


def produce(
    bootstrap: str, topic: str, messages: Iterable[tuple[Headers, bytes | None, int | None]], key: bytes | None = None
) -> int:
    """Send ``(headers, value, partition)`` messages (``partition`` ``None``: the producer's choice)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    n = 0
    try:
        for headers, value, partition in messages:
            producer.send(topic, value=value, key=key, headers=headers, partition=partition)
            n += 1
        producer.flush(30)
    finally:
        producer.close()
    return n


def read_all(bootstrap: str, topic: str, expect: int, timeout: float = 60.0) -> list[Any]:
    """Every message of ``topic`` (at least ``expect`` of them, or what arrived within ``timeout``)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    out: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while not consumer.partitions_for_topic(topic) and time.monotonic() < deadline:
            time.sleep(0.2)
        parts = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in parts])
        while len(out) < expect and time.monotonic() < deadline:
            for msgs in consumer.poll(timeout_ms=500).values():
                out.extend(msgs)
    finally:
        consumer.close()
    return out


def committed(bootstrap: str, topic: str, group: str) -> dict[int, int | None]:
    """The group's committed offset per partition of ``topic``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        return {p: consumer.committed(TopicPartition(topic, p)) for p in sorted(parts)}
    finally:
        consumer.close()


def group_members(bootstrap: str, group: str) -> list[str]:
    """The member ids of ``group`` as its coordinator sees them now (sorted)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_groups([group])[group]
    finally:
        admin.close()
    return sorted(m["member_id"] for m in described["members"])


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or set())]
        return {tp.partition: o for tp, o in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()
