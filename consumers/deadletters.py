"""The dead-letter topic: messages the consumer cannot use, kept whole with why, so nothing is lost or blocking.

A dead letter is the original message — its key, value and headers unchanged — plus headers saying why and where
it came from: ``inferwatch-dlq-reason`` (a ``consumers.metrics.DEAD_LETTER_REASONS`` label),
``inferwatch-dlq-error`` (what was wrong, one line), ``inferwatch-dlq-topic``, ``inferwatch-dlq-partition``,
``inferwatch-dlq-offset`` and ``inferwatch-dlq-group``. A record a sink refused even in its smallest form has no one
message behind it (a paired record comes from two): its dead letter's value is the record's JSON, keyed by its id.

``send`` returns once the broker acknowledged every dead letter (``acks=all``); until then the consumer commits
nothing, so a message is in its topic or in the dead-letter topic, never in neither.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inferwatch.results import Record
from inferwatch.sources.messages import Message

log = logging.getLogger("inferwatch.consumers")

REASON = "inferwatch-dlq-reason"
ERROR = "inferwatch-dlq-error"
TOPIC = "inferwatch-dlq-topic"
PARTITION = "inferwatch-dlq-partition"
OFFSET = "inferwatch-dlq-offset"
GROUP = "inferwatch-dlq-group"
_MAX_ERROR = 1000


@dataclass(frozen=True)
class DeadLetter:
    """What goes to the dead-letter topic: the message's key, value and headers, and why."""

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    reason: str
    error: str
    source: tuple[str, int, int] | None = None
    """The message's topic, partition and offset (``None`` for a record)."""

    @classmethod
    def of_message(cls, message: Message, reason: str, error: str) -> DeadLetter:
        source = (message.topic, message.partition, message.offset)
        return cls(message.key, message.value, message.headers, reason, error, source)

    @classmethod
    def of_record(cls, record: Record, reason: str, error: str) -> DeadLetter:
        return cls(record.id.encode(), record.to_json(), (), reason, error)

    def all_headers(self, group: str) -> list[tuple[str, bytes]]:
        """The original headers, then why and where (module doc)."""
        why = [(REASON, self.reason), (ERROR, self.error[:_MAX_ERROR]), (GROUP, group)]
        if self.source is not None:
            topic, partition, offset = self.source
            why += [(TOPIC, topic), (PARTITION, str(partition)), (OFFSET, str(offset))]
        return list(self.headers) + [(k, v.encode()) for k, v in why]


class DeadLetters:
    """A producer for ``topic`` (kafka-python settings in ``config``: bootstrap servers, TLS/SASL)."""

    def __init__(self, topic: str, group: str, config: dict[str, Any], timeout: float = 30.0) -> None:
        from kafka import KafkaProducer

        self.topic = topic
        self.group = group
        self.timeout = timeout
        self._producer = KafkaProducer(acks="all", max_block_ms=int(timeout * 1000), **config)
        try:  # learn the topic's partitions now (the broker creates it if it may), not with the first dead letter
            self._producer.partitions_for(topic)
        except Exception as e:  # KafkaTimeoutError: the first send tries again, and waits
            log.warning("dead-letter topic %s is not available yet (%s); dead letters wait for it", topic, e)

    def send(self, letters: Sequence[DeadLetter], stop: threading.Event | None = None) -> None:
        """Send ``letters`` and wait until all are acknowledged, trying again while the broker refuses (a dead
        letter is never given up: the consumer would otherwise have to drop the message)."""
        pending = list(letters)
        pause = 1.0
        while pending:
            futures = [(letter, self._send(letter)) for letter in pending]
            self._producer.flush(timeout=self.timeout)
            failed = []
            for letter, future in futures:
                try:
                    future.get(timeout=0)
                except Exception as e:  # KafkaError, KafkaTimeoutError: try again
                    failed.append(letter)
                    last = e
            if failed:
                log.warning(
                    "dead-letter topic %s: %d not acknowledged (%s); trying again", self.topic, len(failed), last
                )
                if stop is not None and stop.wait(pause):
                    raise InterruptedError("stopped while dead letters were not acknowledged")
                if stop is None:
                    time.sleep(pause)
                pause = min(pause * 2, 30.0)
            pending = failed
        for letter in letters:
            log.warning("dead letter (%s) -> %s: %s", letter.reason, self.topic, letter.error)

    def _send(self, letter: DeadLetter) -> Any:
        headers = letter.all_headers(self.group)
        return self._producer.send(self.topic, key=letter.key, value=letter.value, headers=headers)

    def close(self) -> None:
        self._producer.close(timeout=self.timeout)
