"""Delivery metrics: what was received, written, dropped (and why), queue depths and batch latency."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from inferwatch.metrics import LATENCY_BUCKETS

SINK_DROPS = (
    "queue_full",
    "sink_error",
    "sink_blocked",
    "spool_full",
    "disk_full",
    "spool_error",
    "shutdown_timeout",
    "unwritable",
)
"""Why a sink worker drops records (``inferwatch_records_dropped_total{reason}``)."""
INTAKE_DROPS = ("queue_full", "spool_full", "disk_full", "spool_error", "build_error", "shutdown_timeout")
WAL_DROPS = ("spool_full", "disk_full", "spool_error")


class DeliveryMetrics:
    """Registered on the service's own registry; label ``sink`` is the sink's name, ``intake`` for the
    shared front queue."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.received = Counter(
            "inferwatch_records_received_total",
            "Records accepted for delivery, by source (proxy, cloudevents, ...).",
            ["source"],
            registry=registry,
        )
        self.written = Counter(
            "inferwatch_sink_records_written_total",
            "Records a sink stored successfully.",
            ["sink"],
            registry=registry,
        )
        self.dropped = Counter(
            "inferwatch_records_dropped_total",
            "Records that will never reach a sink, by sink and reason (queue_full, sink_error, build_error, "
            "spool_full, disk_full, spool_error, shutdown_timeout; unwritable: refused even in its smallest form, "
            "one record).",
            ["sink", "reason"],
            registry=registry,
        )
        self.sink_errors = Counter(
            "inferwatch_sink_errors_total",
            "Failed batch writes (each retry counts).",
            ["sink"],
            registry=registry,
        )
        self.reduced = Counter(
            "inferwatch_records_reduced_total",
            "Records a sink refused whole (reason: unserialisable, too_large, mapping...), written again in a "
            "smaller form: reduced (no decoded bodies or instances), then shed (no raw bodies).",
            ["sink", "reason"],
            registry=registry,
        )
        self.sink_blocked = Gauge(
            "inferwatch_sink_blocked",
            "1 while a sink's destination refuses writes until a person acts (reason: template_conflict, mapping, "
            "read_only, auth, index_missing...): records wait in the spool; the log and /health/ready say what to do.",
            ["sink", "reason"],
            registry=registry,
        )
        self.sink_up = Gauge(
            "inferwatch_sink_up", "1 if the sink's last write succeeded, else 0.", ["sink"], registry=registry
        )
        self.queue_depth = Gauge(
            "inferwatch_queue_depth", "Records waiting in a delivery queue.", ["queue"], registry=registry
        )
        self.batch_seconds = Histogram(
            "inferwatch_sink_batch_seconds",
            "Time to write one batch to a sink.",
            ["sink"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.spool_bytes = Gauge(
            "inferwatch_spool_bytes",
            "Bytes of a sink's on-disk spool (sink=intake: the intake spool in front of the record builder; "
            "sink=wal: the write-ahead log of --durability sync).",
            ["sink"],
            registry=registry,
        )
        self.spool_records = Gauge(
            "inferwatch_spool_records",
            "Records waiting in a sink's on-disk spool (its backlog; sink=intake: items waiting for the builder).",
            ["sink"],
            registry=registry,
        )
        self.spool_replayed = Counter(
            "inferwatch_spool_replayed_total",
            "Records read back from a spool and delivered (sink=intake: handed to the builder; "
            "sink=wal: exchanges re-submitted after restart).",
            ["sink"],
            registry=registry,
        )
        self.batch_size = Histogram(
            "inferwatch_sink_batch_records",
            "Records per batch written to a sink.",
            ["sink"],
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 5000),
            registry=registry,
        )

    def expose_drops(self, sink: str, reasons: tuple[str, ...]) -> None:
        """Export ``dropped{sink, reason}`` at 0 for every reason from the start: Prometheus' ``increase()`` only
        sees a counter grow between two scrapes, so a series born at 1 (the first drop) would never alert."""
        for reason in reasons:
            self.dropped.labels(sink, reason)
