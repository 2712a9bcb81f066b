"""Detection on a Kafka stream: the logger's topic of paired records through a detector.

At-least-once: poll a batch, run every usable record's request instances through ``DetectorCore.detect``,
then commit the consumed positions (offset + 1). A record that cannot be used (not JSON, no decoded
instances, the wrong features) is counted under ``outcome="unusable"``, logged and committed, so one bad
message never blocks the partition. Use a consumer group (``group_id``) so restarts resume where the last
commit left off. With ``results`` (a ``inferwatch.detectors.results.DetectorResults``), each result is published for the
record it came from (its id, model, deployment, namespace, endpoint), so it is merged into that record's document.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from prometheus_client import Counter

from inferwatch.errors import InferwatchError

log = logging.getLogger("inferwatch.consumers.detect")


class RecordDetector:
    """Turns logger records into detector calls; ``consume`` drives a kafka-python ``KafkaConsumer``."""

    def __init__(
        self, core: Any, on_result: Callable[[str, dict[str, Any]], None] | None = None, results: Any = None
    ) -> None:
        self.core = core
        self.on_result = on_result
        self.results = results
        self.records = Counter(
            "inferwatch_consumer_records",
            "Records consumed from Kafka by outcome (detected, unusable).",
            ["outcome"],
            registry=core.registry,
        )

    def process(self, value: bytes) -> dict[str, Any] | None:
        """The detector's result for one record (``None`` if it cannot be used; counted and logged)."""
        try:
            record = orjson.loads(value)
            rows = [inst["request"] for inst in record.get("instances") or [] if inst.get("request")]
            result: dict[str, Any] = self.core.detect(self.core.features(rows))
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, InferwatchError) as e:
            self.records.labels("unusable").inc()
            log.warning("record not usable by the detector: %s", e)
            return None
        self.records.labels("detected").inc()
        if self.results is not None:
            self.results.request(_origin(record), result, len(rows))
        if self.on_result is not None:
            self.on_result(str(record.get("id")), result)
        return result

    def consume(
        self,
        consumer: Any,
        *,
        stop: threading.Event | None = None,
        max_records: int | None = None,
        idle_timeout: float | None = None,
    ) -> int:
        """Poll, detect, commit until ``stop`` is set, ``max_records`` were handled, or nothing arrived for
        ``idle_timeout`` seconds. Returns how many records were handled."""
        handled = 0
        idle_since = time.monotonic()
        while not (stop is not None and stop.is_set()):
            batch = consumer.poll(timeout_ms=500, max_records=500)
            messages = [m for msgs in batch.values() for m in msgs]
            if not messages:
                if idle_timeout is not None and time.monotonic() - idle_since > idle_timeout:
                    break
                continue
            idle_since = time.monotonic()
            for m in messages:
                self.process(m.value)
            consumer.commit()  # after processing: a crash before this line re-delivers, never skips
            handled += len(messages)
            if max_records is not None and handled >= max_records:
                break
        return handled


def _origin(record: dict[str, Any]) -> Any:
    from inferwatch.detectors.results import Origin

    tags = record.get("tags")
    return Origin(
        str(record.get("id")),
        model_name=record.get("model_name"),
        deployment=record.get("deployment"),
        namespace=record.get("namespace"),
        endpoint=record.get("endpoint"),
        protocol=record.get("protocol"),
        tags=dict(tags) if isinstance(tags, dict) else {},
    )
