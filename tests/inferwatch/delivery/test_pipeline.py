"""Delivery pipeline: batching, retries, per-sink isolation, counted drops. The sinks here are in-memory
test doubles (pure logic); real sinks are tested against real servers elsewhere."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from inferwatch.delivery import DeliveryMetrics, DeliveryOptions, Pipeline
from inferwatch.errors import SinkError
from inferwatch.metrics import new_registry
from inferwatch.records import InferenceRecord
from inferwatch.sinks.base import SinkHealth


class MemorySink:
    def __init__(self, name: str = "mem", fail_first: int = 0, delay: float = 0.0, retriable: bool = True):
        self.name = name
        self.ids: list[str] = []
        self.batches: list[int] = []
        self.fail_first = fail_first
        self.delay = delay
        self.retriable = retriable
        self.closed = False

    def write(self, records: Sequence[InferenceRecord]) -> None:
        if self.delay:
            time.sleep(self.delay)
        if self.fail_first > 0:
            self.fail_first -= 1
            raise SinkError("down", retriable=self.retriable)
        self.ids.extend(r.id for r in records)
        self.batches.append(len(records))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def health(self) -> SinkHealth:
        return SinkHealth(True)


def _build(i: int) -> InferenceRecord:
    return InferenceRecord(id=f"r{i}", received_at=datetime.now(UTC))


def _sample(registry, name: str, **labels: str) -> float:
    v = registry.get_sample_value(name, labels)
    return 0.0 if v is None else v


def test_everything_delivered_in_batches_and_sinks_closed() -> None:
    reg = new_registry()
    a, b = MemorySink("mem"), MemorySink("mem")
    p = Pipeline([a, b], _build, DeliveryMetrics(reg), DeliveryOptions(batch_size=100, linger=0.02))
    p.start()
    for i in range(1000):
        assert p.submit(i)
    p.stop()
    assert a.ids == [f"r{i}" for i in range(1000)] and b.ids == a.ids
    assert max(a.batches) <= 100 and len(a.batches) < 1000  # batched, not one write per record
    assert a.closed and b.closed
    assert b.name == "mem-2"  # duplicate names made unique for metrics
    assert _sample(reg, "inferwatch_sink_records_written_total", sink="mem") == 1000
    assert _sample(reg, "inferwatch_records_received_total", source="proxy") == 1000


def test_retriable_failures_are_retried_then_delivered() -> None:
    reg = new_registry()
    sink = MemorySink(fail_first=2)
    p = Pipeline([sink], _build, DeliveryMetrics(reg), DeliveryOptions(retry_backoff=0.01, linger=0.0))
    p.start()
    p.submit(1)
    p.stop()
    assert sink.ids == ["r1"]
    assert _sample(reg, "inferwatch_sink_errors_total", sink="mem") == 2
    assert _sample(reg, "inferwatch_records_dropped_total", sink="mem", reason="sink_error") == 0


def test_permanent_failure_is_dropped_counted_and_does_not_block_other_sinks() -> None:
    reg = new_registry()
    bad = MemorySink("bad", fail_first=10**9, retriable=False)
    good = MemorySink("good")
    p = Pipeline([bad, good], _build, DeliveryMetrics(reg), DeliveryOptions(linger=0.0))
    p.start()
    for i in range(5):
        p.submit(i)
    p.stop()
    assert len(good.ids) == 5 and bad.ids == []
    # refused for good with no detail: each record tried alone, then in its smaller forms, then dropped alone
    assert _sample(reg, "inferwatch_records_dropped_total", sink="bad", reason="unwritable") == 5


def test_slow_sink_keeps_memory_bounded_and_counts_drops() -> None:
    reg = new_registry()
    gate = threading.Event()

    class Blocked(MemorySink):
        def write(self, records: Sequence[InferenceRecord]) -> None:
            gate.wait(10)
            super().write(records)

    sink = Blocked()
    opts = DeliveryOptions(queue_size=100, batch_size=10, linger=0.0)
    p = Pipeline([sink], _build, DeliveryMetrics(reg), opts)
    p.start()
    accepted = sum(p.submit(i) for i in range(5000))
    max_depth = p.depth()
    gate.set()
    p.stop()
    assert max_depth <= 2 * opts.queue_size + opts.batch_size
    dropped = _sample(reg, "inferwatch_records_dropped_total", sink="intake", reason="queue_full") + _sample(
        reg, "inferwatch_records_dropped_total", sink="mem", reason="queue_full"
    )
    assert dropped > 0
    # every submitted record is either stored or counted as dropped: nothing vanishes silently
    assert len(sink.ids) + dropped == 5000
    assert accepted >= len(sink.ids)
