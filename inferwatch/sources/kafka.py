"""Kafka consumer groups: opening a member that reliably gets its partitions, and the at-least-once loop.

kafka-python computes a group's assignment from the leader's local metadata. A fresh client that joins before
its first metadata response for the topic has arrived assigns nothing and only rejoins on a later metadata
change, which can leave a consumer idle for minutes. ``group_consumer`` therefore asks the broker for the
topic's partitions first and subscribes once they are known.

``consume`` is the at-least-once loop every consumer service shares: poll a batch, hand every message to the
service, then commit the consumed positions (offset + 1). A crash before the commit re-delivers the batch; it
never skips one. The service decides what an unusable message means (count it, log it, dead-letter it):
an exception out of ``handle`` stops the loop without committing. ``after_poll`` runs after every poll, also
when nothing arrived (at least every half second): work due on time, such as closing a time window.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("inferwatch.sources.kafka")


def group_consumer(
    bootstrap: str | list[str], topic: str, group: str, *, wait_for_topic: float = 30.0, **config: Any
) -> Any:
    """A ``KafkaConsumer`` in ``group`` subscribed to ``topic``, manual commits, from the earliest offset.

    Waits up to ``wait_for_topic`` seconds for the topic to exist; if it does not, subscribes anyway (its
    partitions are assigned when it is created) and says so in the log. ``config`` overrides or extends the
    consumer settings.
    """
    from kafka import KafkaConsumer

    settings: dict[str, Any] = {"enable_auto_commit": False, "auto_offset_reset": "earliest", **config}
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, **settings)
    deadline = time.monotonic() + wait_for_topic
    while not consumer.partitions_for_topic(topic):
        if time.monotonic() >= deadline:
            log.warning("topic %s does not exist yet; subscribing anyway, partitions follow when it is created", topic)
            break
        time.sleep(0.2)
    consumer.subscribe([topic])
    return consumer


def consume(
    consumer: Any,
    handle: Callable[[Any], object],
    *,
    stop: threading.Event | None = None,
    max_records: int | None = None,
    idle_timeout: float | None = None,
    batch: int = 500,
    after_poll: Callable[[], object] | None = None,
) -> int:
    """Poll, ``handle`` each message (a kafka-python ``ConsumerRecord``), commit, then ``after_poll``, until
    ``stop`` is set, ``max_records`` were handled, or nothing arrived for ``idle_timeout`` seconds. Returns how
    many messages were handled."""
    handled = 0
    idle_since = time.monotonic()
    while not (stop is not None and stop.is_set()):
        polled = consumer.poll(timeout_ms=500, max_records=batch)
        messages = [m for msgs in polled.values() for m in msgs]
        if not messages:
            if after_poll is not None:
                after_poll()
            if idle_timeout is not None and time.monotonic() - idle_since > idle_timeout:
                break
            continue
        idle_since = time.monotonic()
        for m in messages:
            handle(m)
        consumer.commit()  # after processing: a crash before this line re-delivers, never skips
        handled += len(messages)
        if after_poll is not None:
            after_poll()
        if max_records is not None and handled >= max_records:
            break
    return handled
