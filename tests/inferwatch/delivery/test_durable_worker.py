"""Spill and replay against the real embedded store: a sink that fails for a while loses nothing and
keeps the order; a full spool drops and counts; a restart replays; sync mode's write-ahead log."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from inferwatch.capture import Body, Exchange, RecordBuilder
from inferwatch.delivery import DeliveryMetrics, DeliveryOptions, Pipeline, decode_exchange, encode_exchange
from inferwatch.delivery.spool import Spool
from inferwatch.errors import SinkError
from inferwatch.metrics import new_registry
from inferwatch.records import InferenceRecord
from inferwatch.sinks.base import SinkHealth
from inferwatch.sinks.sqlite import SQLiteSink
from inferwatch.stores.sqlite import SQLiteStore

BODY = b'{"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}'


class FlakyStore:
    """The real SQLite store behind a switch: every write fails (retriable) until ``up_at``."""

    def __init__(self, path: Path, down_for: float = 0.0) -> None:
        self.name = "sqlite"
        self.store = SQLiteSink(path)
        self.up_at = time.monotonic() + down_for
        self.order: list[str] = []  # ids in the order the store accepted them
        self.failures = 0

    def write(self, records: Sequence[InferenceRecord]) -> None:
        if time.monotonic() < self.up_at:
            self.failures += 1
            raise SinkError("store unavailable", retriable=True)
        self.store.write(records)
        self.order.extend(r.id for r in records)

    def flush(self) -> None:
        self.store.flush()

    def close(self) -> None:
        self.store.close()

    def health(self) -> SinkHealth:
        return self.store.health()


def _exchange(i: int) -> Exchange:
    return Exchange(
        request_id=f"r{i:05d}",
        received_at=time.time(),
        responded_at=time.time(),
        status_code=200,
        method="POST",
        path="/api/v1.0/predictions",
        request=Body(BODY, "application/json", len(BODY)),
        response=Body(BODY, "application/json", len(BODY)),
    )


def _options(spool: Path, **kw: object) -> DeliveryOptions:
    base: dict[str, object] = dict(
        queue_size=200,
        batch_size=20,
        linger=0.002,
        max_retries=2,
        retry_backoff=0.01,
        probe_max=0.1,
        spool_dir=spool,
        shutdown_timeout=20.0,
    )
    base.update(kw)
    return DeliveryOptions(**base)  # type: ignore[arg-type]


def _submit(p: Pipeline[Exchange], reg: CollectorRegistry, i: int) -> None:
    """Submit without overrunning the intake queue (the in-memory window is not what is tested here):
    the builder may be slow on a busy machine."""
    deadline = time.monotonic() + 10
    while _m(reg, "inferwatch_queue_depth", queue="intake") >= p.options.queue_size - 1:
        assert time.monotonic() < deadline, "the builder stalled"
        time.sleep(0.001)
    assert p.submit(_exchange(i))


def _pipeline(sink: FlakyStore, reg: CollectorRegistry, opts: DeliveryOptions) -> Pipeline[Exchange]:
    codec = (encode_exchange, decode_exchange)
    return Pipeline([sink], RecordBuilder().build, DeliveryMetrics(reg), opts, codec)


def _m(reg: CollectorRegistry, name: str, **labels: str) -> float:
    return reg.get_sample_value(name, labels) or 0.0


def _dropped(reg: CollectorRegistry) -> float:
    total = 0.0
    for metric in reg.collect():
        if metric.name == "inferwatch_records_dropped":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


def _stored(path: Path) -> int:
    s = SQLiteStore(path)
    try:
        return s.count()
    finally:
        s.close()


def test_sink_down_for_a_while_everything_delivered_in_order_none_dropped(tmp_path: Path) -> None:
    reg = new_registry()
    sink = FlakyStore(tmp_path / "store.db", down_for=1.0)
    p = _pipeline(sink, reg, _options(tmp_path / "spool"))
    p.start()
    ids = [f"r{i:05d}" for i in range(3000)]
    peak_spooled = 0
    for i in range(3000):
        _submit(p, reg, i)
        if i % 50 == 0:
            time.sleep(0.02)  # traffic spread over ~1.2 s, through the outage and after it
            peak_spooled = max(peak_spooled, p.backlog()["sqlite"][0])
    deadline = time.monotonic() + 30
    while len(sink.order) < 3000 and time.monotonic() < deadline:
        time.sleep(0.05)
    p.stop()
    assert sink.failures > 0 and peak_spooled > 0, "the outage must have forced records to the spool"
    assert sink.order == ids, "every record delivered once, in submission order"
    assert _dropped(reg) == 0
    assert _m(reg, "inferwatch_spool_replayed_total", sink="sqlite") >= peak_spooled
    assert _m(reg, "inferwatch_sink_up", sink="sqlite") == 1
    assert p.backlog()["sqlite"] == (0, 0)
    assert not list((tmp_path / "spool" / "sqlite").rglob("*.seg")), "a drained spool leaves no segments"
    assert _stored(tmp_path / "store.db") == 3000


def test_slow_sink_spills_instead_of_dropping(tmp_path: Path) -> None:
    reg = new_registry()
    gate = threading.Event()

    class Blocked(FlakyStore):
        def write(self, records: Sequence[InferenceRecord]) -> None:
            gate.wait(20)
            super().write(records)

    sink = Blocked(tmp_path / "store.db")
    p = _pipeline(sink, reg, _options(tmp_path / "spool"))
    p.start()
    for i in range(2000):
        _submit(p, reg, i)
        if i % 50 == 0:
            time.sleep(0.02)
    time.sleep(0.3)
    spooled, size = p.backlog()["sqlite"]
    assert spooled > 1000 and size > 0
    assert _m(reg, "inferwatch_spool_records", sink="sqlite") == spooled
    assert _m(reg, "inferwatch_spool_bytes", sink="sqlite") == size
    assert p.depth() <= 2 * 200 + 20  # memory stays bounded by the queues
    gate.set()
    p.stop()
    assert sink.order == [f"r{i:05d}" for i in range(2000)]
    assert _dropped(reg) == 0


def test_full_spool_drops_counted_and_restart_replays_the_rest(tmp_path: Path) -> None:
    reg = new_registry()
    sink = FlakyStore(tmp_path / "store.db", down_for=3600)
    p = _pipeline(sink, reg, _options(tmp_path / "spool", spool_max_bytes=64 * 1024, shutdown_timeout=2.0))
    p.start()
    for i in range(1000):
        _submit(p, reg, i)
        if i % 50 == 0:
            time.sleep(0.02)
    time.sleep(0.5)
    p.stop()  # the sink never came back: what fits is on disk, the rest is counted
    full = _m(reg, "inferwatch_records_dropped_total", sink="sqlite", reason="spool_full")
    spooled = _spooled(tmp_path / "spool" / "sqlite")
    assert full > 0 and spooled > 0
    assert spooled + full == 1000 and _dropped(reg) == full
    assert sink.order == []

    reg2 = new_registry()
    healthy = FlakyStore(tmp_path / "store.db")
    p2 = _pipeline(healthy, reg2, _options(tmp_path / "spool"))
    p2.start()  # a new process on the same spool: the backlog is replayed before anything new
    p2.submit(_exchange(5000))
    p2.stop()
    assert healthy.order[:-1] == sorted(healthy.order[:-1]) and healthy.order[-1] == "r05000"
    assert len(healthy.order) == spooled + 1
    # the new record arrived while a backlog existed, so it queued behind it on disk
    assert _m(reg2, "inferwatch_spool_replayed_total", sink="sqlite") == spooled + 1
    assert _stored(tmp_path / "store.db") == spooled + 1


def _spooled(directory: Path) -> int:
    """Backlog of a sink's spool as a new owner sees it (the lanes are plain spools)."""
    total = 0
    for lane in ("retry", "overflow"):
        s = Spool(directory / lane, max_bytes=1 << 30)
        total += s.records
        s.close()
    return total


def test_sync_mode_answers_after_the_log_and_acks_everything(tmp_path: Path) -> None:
    reg = new_registry()
    sink = FlakyStore(tmp_path / "store.db", down_for=0.3)
    p = _pipeline(sink, reg, _options(tmp_path / "spool", durability="sync"))
    assert p.durable
    p.start()
    results: list[bool] = []

    def client(base: int) -> None:
        for i in range(base, base + 200):
            results.append(p.submit_durable(_exchange(i)).result(10))

    threads = [threading.Thread(target=client, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 800
    p.stop()
    assert _stored(tmp_path / "store.db") == 800 and _dropped(reg) == 0
    assert p.backlog()["wal"] == (0, 0), "every entry acknowledged once written or spooled"
    assert not list((tmp_path / "spool" / "intake-wal").glob("*.seg"))


def test_sync_mode_resubmits_entries_a_crash_left_unacknowledged(tmp_path: Path) -> None:
    wal = Spool(tmp_path / "spool" / "intake-wal", max_bytes=1 << 20, fsync=True)
    for i in range(30):  # what a killed process leaves: logged, answered, never acknowledged
        wal.append(encode_exchange(_exchange(i)))
    wal.sync()
    wal.close()
    reg = new_registry()
    sink = FlakyStore(tmp_path / "store.db")
    p = _pipeline(sink, reg, _options(tmp_path / "spool", durability="sync"))
    p.start()
    assert p.submit_durable(_exchange(99)).result(10)
    p.stop()
    assert sink.order == [f"r{i:05d}" for i in [*range(30), 99]]
    assert _m(reg, "inferwatch_spool_replayed_total", sink="wal") == 30
    assert p.backlog()["wal"] == (0, 0)
