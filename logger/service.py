"""The logger's core object: settings, sinks, the delivery pipeline and the sampling/skip decision.

HTTP code (``inferwatch.logger.proxy``, ``inferwatch.logger.receiver``) is thin and hands every exchange to
``LoggerService``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import zlib

from prometheus_client import CollectorRegistry

from inferwatch.capture import Exchange, RecordBuilder
from inferwatch.delivery import DeliveryMetrics, DeliveryOptions, Pipeline, decode_exchange, encode_exchange
from inferwatch.guard import HttpGuard
from inferwatch.health import Check, Health
from inferwatch.logger.collisions import RecordIds
from inferwatch.logger.metrics import LoggerMetrics
from inferwatch.logger.settings import LoggerSettings
from inferwatch.logger.upstream_probe import UpstreamProbe
from inferwatch.metrics import new_registry
from inferwatch.protocols import limits
from inferwatch.records import NODE_MARK, REQUEST_ID_TAG
from inferwatch.redact import Redactor
from inferwatch.results import Record, results_from_event
from inferwatch.settings import common
from inferwatch.sinks import Sink, open_sink

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
        limits.enforce(settings.max_elements, self.registry)
        if sinks is None:
            uris = settings.sink or [common().default_store_uri]
            sinks = [open_sink(u) for u in uris]
        self.sinks = sinks
        self.limits = settings.http_limits()
        self.guard = HttpGuard(self.limits, self.metrics.rejected)
        """The transport limits of the proxy or receiver, counted on ``inferwatch_http_rejected_total``."""
        self.builder = RecordBuilder(
            Redactor(settings.redact_path, settings.redact_field),
            settings.redact_unparsed,
            self.limits,
            self.guard.count,
        )
        self.pipeline: Pipeline[Exchange] = Pipeline(
            sinks,
            self.build,
            DeliveryMetrics(self.registry),
            DeliveryOptions(
                queue_size=settings.queue_size,
                batch_size=settings.batch_size,
                linger=settings.linger_ms / 1000.0,
                max_retries=settings.max_retries,
                shutdown_timeout=settings.shutdown_timeout,
                durability=settings.durability,
                spool_dir=settings.spool_dir or common().home / "spool",
                spool_max_bytes=settings.spool_max_bytes,
            ),
            codec=(self._encode, decode_exchange),
        )
        self._rng = random.Random()
        self.ids = RecordIds(settings.id_window, self.metrics.id_collisions)
        self.upstream_probe = (
            UpstreamProbe(settings.upstream, settings.upstream_probe_path, settings.upstream_probe_seconds)
            if settings.upstream
            else None
        )
        """The model's reachability in proxy mode (its task runs in the proxy's lifespan)."""
        self.probes = Health(mode=settings.mode, durability=settings.durability)
        """What ``/health/live`` and ``/health/ready`` answer (see ``health``)."""
        self.probes.liveness("delivery", self.pipeline.liveness)
        self.probes.readiness("intake", self.pipeline.room)
        if self.upstream_probe is not None:
            self.probes.readiness("upstream", self.upstream_probe.check)
        self.probes.detail("sinks", self._sinks_check)

    def build(self, exchange: Exchange) -> Record | list[Record]:
        """The record of an exchange, or, for a detector's answer received as a CloudEvent, the results that
        merge into the logged request (``inferwatch.results.results_from_event``). Runs on the builder thread."""
        results = results_from_event(exchange)
        if results is None:
            return self.builder.build(exchange)
        merged: list[Record] = [self.builder.redact_result(r) for r in results]
        return merged

    def _encode(self, exchange: Exchange) -> bytes:
        """What the write-ahead log stores of an exchange: redacted as its record will be (``RecordBuilder.scrub``),
        so nothing redaction masks or withholds is written to disk. Runs on the log's writer thread."""
        return encode_exchange(self.builder.scrub(exchange))

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

    def claim_id(self, exchange: Exchange) -> str:
        """Give ``exchange`` its record id (``--node`` qualified, unique among recent ones; see
        ``inferwatch.logger.collisions``) before it is handed over; returns it."""
        node = self.settings.node
        if node and exchange.source == "proxy":
            exchange.tags.setdefault(REQUEST_ID_TAG, exchange.request_id)
            exchange.request_id = f"{exchange.request_id}{NODE_MARK}{node}"
        return self.ids.claim(exchange)

    def record(self, exchange: Exchange) -> bool:
        """Hand over without waiting (not durable even in sync mode: see ``record_acked``)."""
        self.claim_id(exchange)
        return self.pipeline.submit(exchange, exchange.source)

    async def record_acked(self, exchange: Exchange) -> bool:
        """What the prediction path awaits before answering: ``record`` in async mode; in sync mode it
        returns once the exchange is fsynced in the write-ahead log (``False``: it could not be)."""
        if not self.pipeline.durable:
            return self.record(exchange)
        self.claim_id(exchange)
        return await asyncio.wrap_future(self.pipeline.submit_durable(exchange, exchange.source))

    def health(self) -> dict[str, object]:
        """The readiness report: live = every delivery thread runs; ready = live, the intake can accept (queue
        or intake spool has room) and, in proxy mode, the model answers its probe. Sinks are detail: a sink that
        is down fills its spool, it does not take the model out of service."""
        return self.probes.report()

    def _sinks_check(self) -> Check:
        sinks = {w.sink.name: w.health() for w in self.pipeline.workers}
        backlog = self.pipeline.backlog()
        detail: dict[str, object] = {
            n: {"ok": h.ok, "detail": h.detail, "spooled": backlog[n][0], "spool_bytes": backlog[n][1]}
            for n, h in sinks.items()
        }
        if "wal" in backlog and "wal" not in sinks:
            detail["wal"] = {"pending": backlog["wal"][0], "bytes": backlog["wal"][1]}
        down = sorted(n for n, h in sinks.items() if not h.ok)
        return Check(not down, f"sink(s) down, spooling: {', '.join(down)}" if down else None, detail)
