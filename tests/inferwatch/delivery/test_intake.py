"""The intake in front of the record builder: when the builder falls behind, exchanges spill to an on-disk
intake spool and come back in order; only a full intake spool drops (counted and logged)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inferwatch.delivery import DeliveryMetrics, DeliveryOptions, Pipeline
from inferwatch.metrics import new_registry
from inferwatch.records import InferenceRecord
from inferwatch.results import ResultRecord
from inferwatch.sinks.base import SinkHealth

CODEC = (lambda i: str(i).encode(), lambda b: int(b))


class ListSink:
    def __init__(self) -> None:
        self.name = "mem"
        self.ids: list[str] = []

    def write(self, records: Sequence[InferenceRecord]) -> None:
        self.ids.extend(r.id for r in records)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def health(self) -> SinkHealth:
        return SinkHealth(True)


def _build(i: int) -> InferenceRecord:
    return InferenceRecord(id=f"r{i}", received_at=datetime.now(UTC))


def _pipeline(
    sink: ListSink, spool: Path, queue_size: int = 10, max_bytes: int = 64 << 20, build=_build
) -> tuple[Pipeline[int], object]:
    reg = new_registry()
    options = DeliveryOptions(queue_size=queue_size, linger=0.0, spool_dir=spool, spool_max_bytes=max_bytes)
    return Pipeline([sink], build, DeliveryMetrics(reg), options, codec=CODEC), reg


def _dropped(reg: object) -> float:
    return sum(
        s.value
        for m in reg.collect()  # type: ignore[attr-defined]
        if m.name == "inferwatch_records_dropped"
        for s in m.samples
        if s.name.endswith("_total")
    )


def test_a_full_intake_spills_to_disk_instead_of_dropping(tmp_path: Path) -> None:
    sink = ListSink()
    p, reg = _pipeline(sink, tmp_path / "spool")
    accepted = [p.submit(i) for i in range(1000)]  # builder not started yet: it is behind by everything
    assert all(accepted)
    assert _dropped(reg) == 0
    assert reg.get_sample_value("inferwatch_spool_records", {"sink": "intake"}) == 990  # type: ignore[attr-defined]
    p.start()
    p.stop()
    assert sink.ids == [f"r{i}" for i in range(1000)]
    assert reg.get_sample_value("inferwatch_spool_replayed_total", {"sink": "intake"}) == 990  # type: ignore[attr-defined]
    assert not any((tmp_path / "spool" / "intake").glob("*.seg")), "a drained intake spool deletes its segments"


def test_order_is_kept_while_a_slow_builder_catches_up_with_live_traffic(tmp_path: Path) -> None:
    gate = threading.Event()

    def slow_build(i: int) -> InferenceRecord:
        if i == 0:
            gate.wait(10)  # the builder is stuck on the first item while traffic goes on
        return _build(i)

    sink = ListSink()
    p, reg = _pipeline(sink, tmp_path / "spool", build=slow_build)
    p.start()
    for i in range(500):
        assert p.submit(i)
    gate.set()
    for i in range(500, 3000):  # memory, disk and back to memory while the builder drains the spool
        assert p.submit(i)
    p.stop()
    assert sink.ids == [f"r{i}" for i in range(3000)]
    assert _dropped(reg) == 0


def test_only_a_full_intake_spool_drops_counted_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sink = ListSink()
    p, reg = _pipeline(sink, tmp_path / "spool", max_bytes=16 * 1024)
    with caplog.at_level(logging.WARNING, logger="inferwatch.delivery"):
        accepted = [p.submit(i) for i in range(5000)]
    refused = accepted.count(False)
    assert 0 < refused < 5000
    assert accepted[: accepted.index(False)] == [True] * accepted.index(False), "drops start once the spool is full"
    labels = {"sink": "intake", "reason": "spool_full"}
    assert reg.get_sample_value("inferwatch_records_dropped_total", labels) == refused  # type: ignore[attr-defined]
    assert "intake spool" in caplog.text and "full" in caplog.text
    p.start()
    p.stop()
    assert len(sink.ids) + _dropped(reg) == 5000, "every exchange is delivered or counted as dropped"


def test_without_a_spool_a_full_intake_still_drops_as_queue_full(tmp_path: Path) -> None:
    reg = new_registry()
    p = Pipeline([ListSink()], _build, DeliveryMetrics(reg), DeliveryOptions(queue_size=10), codec=CODEC)
    accepted = [p.submit(i) for i in range(20)]
    assert accepted.count(False) == 10
    assert reg.get_sample_value("inferwatch_records_dropped_total", {"sink": "intake", "reason": "queue_full"}) == 10


def test_results_spill_as_records_without_an_exchange_codec(tmp_path: Path) -> None:
    sink = ListSink()
    reg = new_registry()
    options = DeliveryOptions(queue_size=5, linger=0.0, spool_dir=tmp_path / "spool")
    p: Pipeline[object] = Pipeline([sink], lambda r: r, DeliveryMetrics(reg), options)  # type: ignore[arg-type,return-value]
    results = [ResultRecord(f"q{i}/outlier", "outlier", {"data": {"is_outlier": i % 2}}, f"q{i}") for i in range(50)]
    assert all(p.submit_record(r) for r in results)
    p.start()
    p.stop()
    assert sink.ids == [r.id for r in results]


def test_a_spill_left_by_a_previous_run_is_built_before_anything_new(tmp_path: Path) -> None:
    stuck = threading.Event()

    def never(i: int) -> InferenceRecord:
        stuck.wait()
        return _build(i)

    first = ListSink()
    reg = new_registry()
    options = DeliveryOptions(queue_size=10, linger=0.0, spool_dir=tmp_path / "spool", shutdown_timeout=0.5)
    p1 = Pipeline([first], never, DeliveryMetrics(reg), options, codec=CODEC)
    for i in range(100):
        assert p1.submit(i)
    p1.start()
    p1.stop()  # the builder is stuck: what is on disk stays there for the next start
    labels = {"sink": "intake", "reason": "shutdown_timeout"}
    assert reg.get_sample_value("inferwatch_records_dropped_total", labels) == 9, "r1..r9 were in memory"
    stuck.set()
    p1._thread.join(5)  # the stuck builder leaves at its next check, closing the spool
    assert not p1._thread.is_alive()

    second = ListSink()
    p2, _ = _pipeline(second, tmp_path / "spool")
    p2.start()
    p2.submit(1000)
    p2.stop()
    assert second.ids[-1] == "r1000"
    assert second.ids[:-1] == [f"r{i}" for i in range(10, 100)], "what was in memory is lost, what was on disk is not"
