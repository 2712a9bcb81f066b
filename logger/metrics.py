"""Logger-specific metrics (delivery metrics come from ``inferwatch.delivery``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from inferwatch.metrics import LATENCY_BUCKETS, rejected_counter
from inferwatch.pairing import PairingMetrics


class LoggerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.rejected = rejected_counter(registry)
        self.proxy_seconds = Histogram(
            "inferwatch_logger_proxy_duration_seconds",
            "Time from receiving a request to the end of the response, upstream included.",
            ["method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.upstream_errors = Counter(
            "inferwatch_logger_upstream_errors_total",
            "Requests the model server could not answer (unreachable, timeout).",
            ["reason"],
            registry=registry,
        )
        self.skipped = Counter(
            "inferwatch_logger_skipped_total",
            "Requests deliberately not logged, by reason (skip_header, sampling).",
            ["reason"],
            registry=registry,
        )
        self.events = Counter(
            "inferwatch_logger_events_total",
            "CloudEvents received, by kind (request, response) and outcome (accepted, rejected).",
            ["kind", "outcome"],
            registry=registry,
        )
        self.pairing = PairingMetrics(registry, "inferwatch_logger")
        self.id_collisions = Counter(
            "inferwatch_logger_id_collisions_total",
            "Exchanges whose request id was already taken by a recent one; stored under <id>~<suffix>, flagged "
            "collision.",
            registry=registry,
        )
