"""Assembling the consumers from their settings: sinks, decoder, dead letters, Kafka client, health, metrics.

``IndexService`` is one ``consume index`` process: the indexer loop on a thread of its own
(``inferwatch.sources.kafka.ConsumerThread``: live while it runs, ready while it polls), a rebalance listener
that commits and hands waiting halves over, and the admin app (``/metrics``, ``/health/live``, ``/health/ready``).
``replay`` is a ``consume replay`` run: partitions assigned by hand, positioned by offset or time, read up to the
end offsets seen at the start (or ``--until``), with a progress bar; it commits nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from inferwatch import metrics as metrics_mod
from inferwatch.capture import RecordBuilder
from inferwatch.consumers.deadletters import DeadLetters
from inferwatch.consumers.indexer import Indexer
from inferwatch.consumers.metrics import ConsumerMetrics
from inferwatch.consumers.settings import ConsumeSettings, IndexSettings
from inferwatch.consumers.writer import Backoff
from inferwatch.health import Check, Health
from inferwatch.sinks import Sink, open_sink
from inferwatch.sources.decoder import MessageDecoder
from inferwatch.sources.kafka import ConsumerThread, group_consumer

log = logging.getLogger("inferwatch.consumers")


@dataclass
class Parts:
    """What both commands build from their settings."""

    registry: CollectorRegistry
    metrics: ConsumerMetrics
    sinks: list[Sink]
    decoder: MessageDecoder
    dead_letters: DeadLetters | None
    more_writers: list[list[Sink]]
    """The sinks of the other writer threads (``writers`` - 1 sets, opened from the same URIs)."""

    def close(self) -> None:
        for sink in [*self.sinks, *(s for group in self.more_writers for s in group)]:
            try:
                sink.close()
            except Exception as e:  # closing one must not keep the others open
                log.warning("closing %s: %s", sink.name, e)
        if self.dead_letters is not None:
            self.dead_letters.close()


def build_parts(settings: ConsumeSettings, group: str, registry: CollectorRegistry | None = None) -> Parts:
    """Sinks (opened, ``ConfigError`` for a bad URI), the decoder, the dead-letter producer."""
    registry = registry or metrics_mod.new_registry()
    consumer_metrics = ConsumerMetrics(registry, group)
    sinks = [open_sink(uri) for uri in settings.sink]
    decoder = MessageDecoder(
        settings.format,
        builder=RecordBuilder(),
        metrics=consumer_metrics.pairing,
        ttl=settings.pairing_ttl,
        max_payload=settings.max_payload_bytes,
        max_pending_bytes=64 * max(settings.max_payload_bytes, 1),
    )
    dead = DeadLetters(settings.dlq_topic, group, settings.client_config()) if settings.dlq_topic else None
    more = [[open_sink(uri) for uri in settings.sink] for _ in range(settings.writer_count - 1)]
    return Parts(registry, consumer_metrics, sinks, decoder, dead, more)


class _Listener:
    """kafka-python rebalance callbacks → the indexer."""

    def __init__(self) -> None:
        self.indexer: Indexer | None = None

    def on_partitions_revoked(self, revoked: Any) -> None:
        if self.indexer is not None:
            self.indexer.revoked(list(revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        if self.indexer is not None:
            self.indexer.assigned(list(assigned))


class IndexService:
    """One ``consume index`` member (module doc). ``start`` runs the loop on its thread; ``stop`` ends it after
    the current batch and closes everything."""

    def __init__(self, settings: IndexSettings, registry: CollectorRegistry | None = None) -> None:
        from kafka import ConsumerRebalanceListener

        self.settings = settings
        self.parts = build_parts(settings, settings.group, registry)
        listener_cls = type("IndexerListener", (_Listener, ConsumerRebalanceListener), {})
        self._listener: _Listener = listener_cls()
        self.consumer = group_consumer(
            settings.client_config()["bootstrap_servers"],
            settings.topic,
            settings.group,
            pattern=settings.pattern,
            listener=self._listener,
            max_poll_records=settings.batch,
            # a --pattern subscription sees topics created later on a metadata refresh: within 30 s, not 5 min
            metadata_max_age_ms=30_000 if settings.pattern else 300_000,
            **{k: v for k, v in settings.client_config().items() if k != "bootstrap_servers"},
        )
        self.indexer = Indexer(
            self.consumer,
            self.parts.sinks,
            self.parts.decoder,
            self.parts.metrics,
            dead_letters=self.parts.dead_letters,
            batch=settings.batch,
            backoff=Backoff(maximum=settings.retry_max_seconds),
            more_writers=self.parts.more_writers,
        )
        self._listener.indexer = self.indexer
        self.thread = ConsumerThread(
            lambda stop, watch: self.indexer.run(stop, watch), name="indexer", stall_seconds=settings.stall_seconds
        )
        self.health = Health(service="consume-index", group=settings.group, topic=settings.topic or settings.pattern)
        self.health.liveness("consumer", self.thread.liveness)
        self.health.readiness("consumer-polling", self.thread.readiness)
        for sink in self.parts.sinks:
            self.health.detail(f"sink:{sink.name}", _sink_check(sink))

    @property
    def registry(self) -> CollectorRegistry:
        return self.parts.registry

    def start(self) -> IndexService:
        self.thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.thread.stop(timeout)
        try:
            self.consumer.close()
        finally:
            self.parts.close()


def _sink_check(sink: Sink) -> Callable[[], Check]:
    def check() -> Check:
        h = sink.health()
        return Check(h.ok, None if h.ok else h.detail)

    return check
