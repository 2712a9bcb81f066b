"""Drive a real sink the way the logger does: through a ``SinkWorker`` (batching, retries, spool), with metrics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from inferwatch.delivery.metrics import DeliveryMetrics
from inferwatch.delivery.worker import SinkWorker, SpoolConfig
from inferwatch.metrics import new_registry
from inferwatch.results import Record
from inferwatch.sinks.base import Sink


def worker(sink: Sink, reg: CollectorRegistry, spool_dir: Path | None = None, batch_size: int = 100) -> SinkWorker:
    """A worker with short pauses (retries 10 ms, probes up to 0.1 s) and, given ``spool_dir``, a spool."""
    spool = SpoolConfig(spool_dir, 64 << 20) if spool_dir is not None else None
    return SinkWorker(
        sink,
        DeliveryMetrics(reg),
        queue_size=1000,
        batch_size=batch_size,
        linger=0.05,
        max_retries=1,
        retry_backoff=0.01,
        spool=spool,
        probe_max=0.1,
    )


def deliver(sink: Sink, records: Sequence[Record], spool_dir: Path | None = None) -> CollectorRegistry:
    """Offer ``records`` (one batch), let the worker write them, stop it (which closes the sink); its metrics."""
    reg = new_registry()
    w = worker(sink, reg, spool_dir, batch_size=len(records))
    for r in records:
        assert w.offer(r)
    w.start()
    w.stop(60.0)
    return reg


def metric(reg: CollectorRegistry, name: str, **labels: str) -> float:
    return reg.get_sample_value(name, labels) or 0.0


def dropped(reg: CollectorRegistry) -> float:
    """Every record counted in ``inferwatch_records_dropped_total``, whatever the sink and reason."""
    total = 0.0
    for m in reg.collect():
        if m.name == "inferwatch_records_dropped":
            total += sum(s.value for s in m.samples if s.name.endswith("_total"))
    return total
