"""The Kafka consumers' metrics (``inferwatch consume index`` and ``inferwatch consume replay``).

Every series carries the consumer group (``replay`` for a replay, which commits to none), so one Prometheus job
can scrape several groups. Lag is per partition, as Kafka measures it: the partition's end offset minus the
group's position, refreshed after every poll for the partitions this member holds (a revoked partition's series is
removed: its new owner reports it).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from inferwatch.metrics import LATENCY_BUCKETS
from inferwatch.pairing import PairingMetrics

DEAD_LETTER_REASONS = ("not_json", "bad_protobuf", "no_request_id", "unknown_format", "bad_record", "unwritable")
"""Why a message goes to the dead-letter topic (``inferwatch_consumer_dead_lettered_total{reason}``): its value is
not JSON, not the protobuf its topic carries, carries no request id, matches no format, is not a valid record of
its format, or a sink refused even its smallest form."""


class ConsumerMetrics:
    """The consumer's series; ``group`` is fixed per process and set on every series."""

    def __init__(self, registry: CollectorRegistry, group: str) -> None:
        self.group = group
        self.lag = Gauge(
            "inferwatch_consumer_lag",
            "Messages not yet consumed: the partition's end offset minus this group's position.",
            ["topic", "partition", "group"],
            registry=registry,
        )
        self.consumed = Counter(
            "inferwatch_consumer_consumed_total",
            "Messages consumed from Kafka.",
            ["group", "topic"],
            registry=registry,
        )
        self.written = Counter(
            "inferwatch_consumer_written_total",
            "Records a sink acknowledged (a redelivered record is written again: sinks are idempotent by id).",
            ["group", "sink"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "inferwatch_consumer_dead_lettered_total",
            "Messages sent to the dead-letter topic, by reason (the message's headers name its source topic).",
            ["group", "reason"],
            registry=registry,
        )
        self.write_retries = Counter(
            "inferwatch_consumer_write_retries_total",
            "Writes tried again after a passing failure (429, 5xx, unreachable); nothing is committed meanwhile.",
            ["group", "sink", "reason"],
            registry=registry,
        )
        self.commit_seconds = Histogram(
            "inferwatch_consumer_commit_duration_seconds",
            "Time to commit a batch's offsets.",
            ["group"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.rebalances = Counter(
            "inferwatch_consumer_rebalances_total",
            "Partition assignments (assigned) and revocations (revoked) this member went through.",
            ["group", "kind"],
            registry=registry,
        )
        self.assigned = Gauge(
            "inferwatch_consumer_assigned_partitions",
            "Partitions this member holds.",
            ["group"],
            registry=registry,
        )
        self.pairing = PairingMetrics(registry, "inferwatch_consumer")
        for reason in DEAD_LETTER_REASONS:  # exported at 0, so the first dead letter is an increase() alerts see
            self.dead_lettered.labels(group, reason)
        self.assigned.labels(group).set(0)
        for kind in ("assigned", "revoked"):
            self.rebalances.labels(group, kind)
