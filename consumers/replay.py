"""``inferwatch consume replay``: a topic's history into a sink — a new index, a new store — with no group.

Every partition of the topic is assigned by hand (no consumer group: nothing is committed anywhere, live
consumers are not disturbed), positioned at ``--from-offset`` or at the first message at or after ``--from-time``
(``offsets_for_times``), and read up to the end offsets seen at the start, or to the first message after
``--until``. The same indexer loop as ``consume index`` decodes, pairs and writes (``consumers.indexer``), so a
replay writes the documents the live indexer wrote, under the same ids. A progress bar shows messages, rate and
ETA on a terminal.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from tqdm import tqdm

from inferwatch import timestamps
from inferwatch.consumers.indexer import Indexer
from inferwatch.consumers.service import build_parts
from inferwatch.consumers.settings import ReplaySettings
from inferwatch.consumers.writer import Backoff
from inferwatch.errors import ConfigError
from inferwatch.sources.decoder import Partition

log = logging.getLogger("inferwatch.consumers")
GROUP = "replay"
"""The ``group`` label of a replay's metrics (it joins no group)."""


@dataclass(frozen=True)
class Plan:
    """Where a replay starts and stops in each partition (``stop``: first offset not replayed)."""

    start: dict[Partition, int]
    stop: dict[Partition, int]

    @property
    def total(self) -> int:
        return sum(max(0, self.stop[tp] - self.start[tp]) for tp in self.start)


@dataclass(frozen=True)
class ReplayReport:
    messages: int
    planned: int
    dead_letters: int
    seconds: float


def _millis(text: str, flag: str) -> int:
    try:
        return int(timestamps.parse(text).timestamp() * 1000)
    except ValueError as e:
        raise ConfigError(f"{flag} {text!r} is not an ISO-8601 time (e.g. 2026-12-01T00:00:00Z): {e}") from e


def plan(consumer: Any, settings: ReplaySettings, wait: float = 5.0) -> Plan:
    """Assign every partition of the topic and compute start and stop offsets (module doc)."""
    from kafka.structs import TopicPartition

    deadline = time.monotonic() + wait
    while not (partitions := consumer.partitions_for_topic(settings.topic)):
        if time.monotonic() > deadline:
            raise ConfigError(f"topic {settings.topic!r} does not exist on {settings.bootstrap}: nothing to replay")
        time.sleep(0.2)
    tps = [TopicPartition(settings.topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    begin, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
    stop = dict(end)
    if settings.until is not None:
        after = _millis(settings.until, "--until") + 1
        for tp, found in consumer.offsets_for_times(dict.fromkeys(tps, after)).items():
            if found is not None:
                stop[tp] = min(stop[tp], found.offset)
    start = {}
    if settings.from_offset is not None:
        start = {tp: min(max(begin[tp], settings.from_offset), stop[tp]) for tp in tps}
    else:
        assert settings.from_time is not None
        since = _millis(settings.from_time, "--from-time")
        for tp, found in consumer.offsets_for_times(dict.fromkeys(tps, since)).items():
            start[tp] = stop[tp] if found is None else min(found.offset, stop[tp])
    for tp in tps:
        consumer.seek(tp, start[tp])
    return Plan({(tp.topic, tp.partition): start[tp] for tp in tps}, {(tp.topic, tp.partition): stop[tp] for tp in tps})


def replay(
    settings: ReplaySettings,
    *,
    progress: bool = True,
    registry: CollectorRegistry | None = None,
    stop: threading.Event | None = None,
) -> ReplayReport:
    """Replay ``settings.topic`` into ``settings.sink`` (module doc)."""
    from kafka import KafkaConsumer

    parts = build_parts(settings, GROUP, registry)
    config = settings.client_config()
    consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, max_poll_records=settings.batch, **config)
    started = time.monotonic()
    try:
        where = plan(consumer, settings)
        indexer = Indexer(
            consumer,
            parts.sinks,
            parts.decoder,
            parts.metrics,
            dead_letters=parts.dead_letters,
            commit=False,
            batch=settings.batch,
            backoff=Backoff(maximum=settings.retry_max_seconds),
            more_writers=parts.more_writers,
        )
        indexer.stop_at = where.stop
        log.info("replaying %d messages of %s into %s", where.total, settings.topic, ", ".join(settings.sink))

        def done() -> bool:
            return all(consumer.position(tp) >= where.stop[(tp.topic, tp.partition)] for tp in consumer.assignment())

        with tqdm(total=where.total, unit="msg", desc="replay", disable=not progress, smoothing=0.1) as bar:
            handled = indexer.run(stop or threading.Event(), done=done, on_batch=bar.update)
        return ReplayReport(handled, where.total, indexer.dead_lettered, time.monotonic() - started)
    finally:
        consumer.close()
        parts.close()
