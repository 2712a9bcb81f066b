"""After the soak: every acknowledged request id looked up in each sink, counted exactly once, missing or doubled."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SinkCheck:
    """How the acknowledged ids appear in one sink."""

    sink: str
    acked: int
    once: int
    missing: int
    duplicated: int
    """Ids found more than once (Kafka is at-least-once: a retried batch may repeat a message)."""
    guarantee: str

    @property
    def lost(self) -> bool:
        return self.missing > 0

    def line(self) -> str:
        return (
            f"{self.sink:<14} acknowledged {self.acked:>9,}  exactly once {self.once:>9,}  missing {self.missing:>6,}"
            f"  more than once {self.duplicated:>6,}  ({self.guarantee})"
        )


def check(sink: str, acked: Iterable[str], found: Counter[str], guarantee: str) -> SinkCheck:
    """Compare the acknowledged ids with the ids ``found`` in a sink (id -> times found)."""
    ids = list(acked)
    once = sum(1 for i in ids if found.get(i, 0) == 1)
    missing = sum(1 for i in ids if found.get(i, 0) == 0)
    doubled = sum(1 for i in ids if found.get(i, 0) > 1)
    return SinkCheck(sink, len(ids), once, missing, doubled, guarantee)


def kafka_ids(bootstrap: str, topic: str, expected: int, timeout: float = 120.0) -> Counter[str]:
    """Every message key of ``topic`` (read from the beginning by a fresh consumer), counted."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    found: Counter[str] = Counter()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=1000, max_records=5000)
            messages = [m for msgs in batch.values() for m in msgs]
            found.update(m.key.decode() for m in messages if m.key is not None)
            if not messages and sum(found.values()) >= expected:
                break
    finally:
        consumer.close()
    return found


def search_ids(url: str, index: str) -> Counter[str]:
    """Every record id in the search indices ``index`` (a pattern), counted once per record.

    A batch is one document per instance (``<id>-item-<n>``); each names its record in ``id``: a record is
    counted once per distinct document id of its first item (or its only document)."""
    from elasticsearch import Elasticsearch, helpers

    client = Elasticsearch(url if url.startswith("http") else f"http://{url}", request_timeout=60)
    try:
        client.indices.refresh(index=index, ignore_unavailable=True)
        found: Counter[str] = Counter()
        query: dict[str, Any] = {"query": {"match_all": {}}, "_source": ["id", "item"]}
        for hit in helpers.scan(client, index=index, query=query, size=5000):
            source = hit.get("_source") or {}
            if source.get("item") in (None, 0):
                found[str(source.get("id"))] += 1
        return found
    finally:
        client.close()
