"""Opening a consumer-group ``KafkaConsumer`` that reliably gets its partitions.

kafka-python computes a group's assignment from the leader's local metadata. A fresh client that joins before
its first metadata response for the topic has arrived assigns nothing and only rejoins on a later metadata
change, which can leave a consumer idle for minutes. ``group_consumer`` therefore asks the broker for the
topic's partitions first and subscribes once they are known.
"""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("inferwatch.consumers.kafka")


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
