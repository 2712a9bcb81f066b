"""The detector's Kafka transport (``inferwatch detector consume``): logged requests on Kafka through a detector.

Messages are decoded by the consumers' shared path (``inferwatch.sources.decoder``, without pairing): the logger's
paired records, Seldon Core v1 executor request halves and Seldon Core v2 ``…inputs`` topics all give request rows;
response halves carry none and are skipped (``outcome="skipped"``).

At-least-once (``inferwatch.sources.kafka.consume``): poll a batch, run every usable record's request instances
through ``DetectorCore.detect``, wait until the batch's results are durable (``detector consume`` publishes through
a write-ahead log: ``ResultPublisher.settle``), then commit the consumed positions (offset + 1). A consumer killed
at any point therefore never commits a record whose result could still be lost: the result is in the sink, in the
log (delivered after the restart), or the record is consumed again. A record that cannot be used (not
JSON, no decoded instances, the wrong features) is counted under ``outcome="unusable"``, logged and committed, so
one bad message never blocks the partition. Use a consumer group (``group_id``) so restarts resume where the last
commit left off. With ``results`` (a ``inferwatch.detectors.results.DetectorResults``), each result is published
for the record it came from (its id, model, deployment, namespace, endpoint), so it is merged into that record's
document.

A batch processed but not committed before a crash is delivered again. A drift window takes each Kafka record
once: the record's id (``topic/partition/offset``, what redelivery repeats; the logger's request id is not used,
clients may reuse it) is passed to ``DetectorCore.detect``, which skips a record it already took (counted under
``outcome="duplicate"`` and in ``inferwatch_detector_duplicates_total``). A time window (``window_seconds``)
closes on time even when no record arrives: the loop calls ``DetectorCore.tick`` after every poll.

``detector consume`` runs the loop on a thread of its own (``RecordDetector.in_background``), watched by the core's
health probes: the process is live while that thread runs (it dies on an error out of the loop, e.g. a
``CommitFailedError`` after a rebalance, or an exception alibi-detect raised; logged at CRITICAL) and ready while it
also polled within the last ``stall_seconds``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from inferwatch.detectors.core import DetectorCore
from inferwatch.detectors.results import DetectorResults
from inferwatch.errors import InferwatchError
from inferwatch.pairing import PairingMetrics
from inferwatch.records import InferenceRecord
from inferwatch.results import Origin
from inferwatch.sources.decoder import MessageDecoder, instances_of
from inferwatch.sources.formats import Undecodable
from inferwatch.sources.kafka import ConsumerThread, PollWatch, consume
from inferwatch.sources.messages import Message

log = logging.getLogger("inferwatch.detectors.consume")


class RecordDetector:
    """Turns logger records into detector calls; ``consume`` drives a kafka-python ``KafkaConsumer``."""

    def __init__(
        self,
        core: DetectorCore,
        on_result: Callable[[str, dict[str, Any]], None] | None = None,
        results: DetectorResults | None = None,
    ) -> None:
        self.core = core
        self.on_result = on_result
        self.results = results
        self.records = Counter(
            "inferwatch_consumer_records",
            "Messages consumed from Kafka by outcome (detected, duplicate, unusable, skipped: no request in it).",
            ["outcome"],
            registry=core.registry,
        )
        self._decoder = MessageDecoder(metrics=PairingMetrics(CollectorRegistry(), "inferwatch_detector"), pair=False)

    def process(self, value: bytes, record_id: str | None = None) -> dict[str, Any] | None:
        """``process_message`` of a message with ``value`` and no headers (the logger's record, recognised by its
        shape); ``record_id`` stands for its Kafka position."""
        return self.process_message(Message("", 0, 0, value), record_id)

    def process_message(self, message: Message, record_id: str | None = None) -> dict[str, Any] | None:
        """The detector's result for one message (``None`` if it cannot be used, counted and logged, or holds no
        request). A record whose ``record_id`` a drift window already took is not counted again: its answer is
        pending, ``duplicate: true``, and is neither published nor passed to ``on_result``."""
        try:
            records = [r for r in self._decoder.feed(message) if isinstance(r, InferenceRecord)]
        except Undecodable as e:
            self.records.labels("unusable").inc()
            log.warning("message not usable by the detector (%s): %s", e.reason, e.message)
            return None
        rows = [row for r in records for row in instances_of(r)]
        if not rows:
            self.records.labels("unusable" if records else "skipped").inc()
            if records:
                log.warning("record %s has no request instances the detector can use", records[0].id)
            return None
        record = records[0]
        try:
            result: dict[str, Any] = self.core.detect(self.core.features(rows), record_id=record_id)
        except InferwatchError as e:
            self.records.labels("unusable").inc()
            log.warning("record %s not usable by the detector: %s", record.id, e.message)
            return None
        if result["data"].get("duplicate"):
            self.records.labels("duplicate").inc()
            return result
        self.records.labels("detected").inc()
        if self.results is not None:
            self.results.request(_origin(record), result, len(rows))
        if self.on_result is not None:
            self.on_result(record.id, result)
        return result

    def consume(
        self,
        consumer: Any,
        *,
        stop: threading.Event | None = None,
        max_records: int | None = None,
        idle_timeout: float | None = None,
        watch: PollWatch | None = None,
    ) -> int:
        """Detect on every record ``consumer`` delivers, committing after each batch (``inferwatch.sources.kafka
        .consume``) until ``stop``, ``max_records`` or ``idle_timeout``. Returns how many records were handled."""
        return consume(
            consumer,
            lambda message: self.process_message(Message.from_kafka(message), kafka_record_id(message)),
            stop=stop,
            max_records=max_records,
            idle_timeout=idle_timeout,
            after_poll=self.tick if self.core.settings.window_seconds is not None else None,
            before_commit=self.settle,
            watch=watch,
        )

    def in_background(self, consumer: Any, stall_seconds: float = 60.0) -> ConsumerThread:
        """``consume`` on a thread named ``consume`` (not started), added to the core's probes: liveness (the
        thread runs) and readiness (it polled within ``stall_seconds``)."""
        thread = ConsumerThread(
            lambda stop, watch: self.consume(consumer, stop=stop, watch=watch), stall_seconds=stall_seconds
        )
        self.core.probes.liveness("consumer", thread.liveness)
        self.core.probes.readiness("consumer-polling", thread.readiness)
        return thread

    def settle(self) -> None:
        """Wait until the results published so far are durable (nothing to wait for without a durable publisher)."""
        if self.results is not None:
            self.results.publisher.settle()

    def tick(self) -> None:
        """Close the pending time window if it is due (its result goes out like any closed window's)."""
        try:
            self.core.tick()
        except InferwatchError as e:
            log.error("closing a time window failed: %s", e.message)


def kafka_record_id(message: Any) -> str | None:
    """``topic/partition/offset`` of a kafka-python ``ConsumerRecord``: the same for a redelivered record."""
    topic, partition, offset = (getattr(message, a, None) for a in ("topic", "partition", "offset"))
    return None if topic is None or partition is None or offset is None else f"{topic}/{partition}/{offset}"


def _origin(record: InferenceRecord) -> Origin:
    return Origin(
        record.id,
        model_name=record.model_name,
        deployment=record.deployment,
        namespace=record.namespace,
        endpoint=record.endpoint,
        protocol=record.protocol,
        tags=dict(record.tags),
    )
