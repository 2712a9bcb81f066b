"""The largest message a Kafka topic takes, learned from the cluster and cached: the Kafka sink checks each
message against it before sending, so a record too large is reported alone (``too_large``) and written again in
a smaller form (``inferwatch.reduction``) instead of failing its batch at the broker.

A topic's limit is the smaller of its ``max.message.bytes`` — for a topic not created yet, the broker's
``message.max.bytes``, which auto-creation gives it — and the producer's ``max_request_size``. The topic and
broker settings are read with the admin API (``AdminLookup``, kafka-python's admin client for both producer
clients: the sink's settings are kafka-python's) and kept for ``ttl`` seconds; ``forget(topic)`` drops one after
the broker refused a message as too large anyway (the topic was changed). When the admin API does not answer
(no DescribeConfigs permission, broker down), ``max_request_size`` stands until the next lookup.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

log = logging.getLogger(__name__)

MESSAGE_OVERHEAD = 256
"""Bytes counted on top of key, value and headers: a record batch header (61) and one record's own fields and
varints (at most ~130 with nine headers), rounded up."""
Lookup = Callable[[str], int | None]
"""``topic -> max.message.bytes`` (the broker's ``message.max.bytes`` for a missing topic), ``None`` if unknown."""


def message_size(key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> int:
    """What a message counts against the limit: key, value, headers and ``MESSAGE_OVERHEAD``."""
    return len(key) + len(value) + sum(len(k) + len(v) for k, v in headers) + MESSAGE_OVERHEAD


class MessageLimits:
    """Per-topic message limits (module doc); ``lookup`` is called at most once per topic per ``ttl``."""

    def __init__(
        self,
        lookup: Lookup,
        producer_max: int,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lookup = lookup
        self.producer_max = producer_max
        self.ttl = ttl
        self._clock = clock
        self._known: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def limit(self, topic: str) -> int:
        """The largest message ``topic`` takes, in bytes (as ``message_size`` counts it)."""
        with self._lock:
            known = self._known.get(topic)
            if known is not None and self._clock() - known[1] < self.ttl:
                return known[0]
        found = self.lookup(topic)
        limit = self.producer_max if found is None else min(found, self.producer_max)
        with self._lock:
            self._known[topic] = (limit, self._clock())
        return limit

    def forget(self, topic: str) -> None:
        """Look ``topic`` up again next time (the broker refused a message the cached limit let through)."""
        with self._lock:
            self._known.pop(topic, None)


class AdminLookup:
    """``Lookup`` through kafka-python's ``KafkaAdminClient``, created on first use with the producer's connection
    and security settings (kafka-python names); failures are logged once and answered ``None``."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self._admin: Any = None
        self._warned = False

    def __call__(self, topic: str) -> int | None:
        try:
            admin = self._connect()
            topics = admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic, configs=["max.message.bytes"])], config_filter="all"
            )
            value = _value(topics, "topic", topic, "max.message.bytes")
            if value is not None:
                return value
            broker = str(admin.describe_cluster()["brokers"][0]["broker_id"])  # the topic does not exist yet
            brokers = admin.describe_configs(
                [ConfigResource(ConfigResourceType.BROKER, broker, configs=["message.max.bytes"])], config_filter="all"
            )
            return _value(brokers, "broker", broker, "message.max.bytes")
        except Exception as e:  # a lookup that fails leaves max_request_size in force
            if not self._warned:
                self._warned = True
                log.warning("cannot read the message size limit of %s (%s); using max_request_size", topic, e)
            self.close()
            return None

    def _connect(self) -> Any:
        if self._admin is None:
            self._admin = KafkaAdminClient(**self.settings)
        return self._admin

    def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            try:
                admin.close()
            except Exception as e:  # closing must not hide what made us close
                log.debug("closing the admin client failed: %s", e)


def _value(answer: Any, kind: str, name: str, key: str) -> int | None:
    entry = ((answer or {}).get(kind) or {}).get(name) or {}
    value = (entry.get(key) or {}).get("value")
    return int(value) if value not in (None, "") else None


__all__ = ["MESSAGE_OVERHEAD", "AdminLookup", "Lookup", "MessageLimits", "message_size"]
