"""The logger's core object: settings, sinks, the delivery pipeline and the sampling/skip decision.

HTTP code (``logger.proxy``, ``logger.receiver``) is thin and hands every exchange to ``LoggerService``.
"""

from __future__ import annotations

import logging
import random
import zlib

from prometheus_client import CollectorRegistry

from inferwatch.capture import Exchange, RecordBuilder
from inferwatch.delivery import DeliveryMetrics, DeliveryOptions, Pipeline
from inferwatch.metrics import new_registry
from inferwatch.redact import Redactor
from inferwatch.settings import common
from inferwatch.sinks import Sink, open_sink
from logger.metrics import LoggerMetrics
from logger.settings import LoggerSettings

log = logging.getLogger("inferwatch.logger")


class LoggerService:
    """Owns delivery; ``record`` is the only call the prediction path makes, and it never blocks."""

    def __init__(
        self,
        settings: LoggerSettings,
        sinks: list[Sink] | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry or new_registry()
        self.metrics = LoggerMetrics(self.registry)
        if sinks is None:
            uris = settings.sink or [common().default_store_uri]
            sinks = [open_sink(u) for u in uris]
        self.sinks = sinks
        redactor = Redactor(settings.redact_path, settings.redact_field)
        self.builder = RecordBuilder(redactor if redactor else None)
        self.pipeline: Pipeline[Exchange] = Pipeline(
            sinks,
            self.builder.build,
            DeliveryMetrics(self.registry),
            DeliveryOptions(
                queue_size=settings.queue_size,
                batch_size=settings.batch_size,
                linger=settings.linger_ms / 1000.0,
                max_retries=settings.max_retries,
                shutdown_timeout=settings.shutdown_timeout,
            ),
        )
        self._rng = random.Random()

    def start(self) -> None:
        self.pipeline.start()
        log.info("logging to %s", ", ".join(s.name for s in self.sinks))

    def stop(self) -> None:
        self.pipeline.stop()

    def sampled(self, request_id: str | None = None) -> bool:
        """Whether this request is logged under ``sample_rate`` (counted when it is not).

        With a request id the decision is a hash of the id, so both halves of a CloudEvents exchange
        (and replays of the same request) get the same answer."""
        rate = self.settings.sample_rate
        if rate >= 1.0:
            return True
        draw = zlib.crc32(request_id.encode()) / 2**32 if request_id else self._rng.random()
        if draw < rate:
            return True
        self.metrics.skipped.labels("sampling").inc()
        return False

    def record(self, exchange: Exchange) -> bool:
        return self.pipeline.submit(exchange, exchange.source)

    def health(self) -> dict[str, object]:
        sinks = {w.sink.name: w.health() for w in self.pipeline.workers}
        return {
            "ok": all(h.ok for h in sinks.values()),
            "mode": self.settings.mode,
            "queued": self.pipeline.depth(),
            "sinks": {n: {"ok": h.ok, "detail": h.detail} for n, h in sinks.items()},
        }
