import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inferwatch.errors import ConfigError
from inferwatch.metrics import new_registry
from inferwatch.records import InferenceRecord
from inferwatch.sinks import open_sink
from inferwatch.sinks.sqlite import SQLiteSink
from inferwatch.stores.sqlite import SQLiteStore
from tests.inferwatch.sinks.sink_records import batch, deep_record
from tests.inferwatch.sinks.through_worker import deliver, dropped, metric, worker

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _rec(i: int, model: str = "iris", flags: list[str] | None = None) -> InferenceRecord:
    return InferenceRecord(id=f"id-{i}", received_at=T0 + timedelta(seconds=i), model_name=model, flags=flags or [])


def test_write_is_idempotent(tmp_path: Path) -> None:
    """Searching what was written: ``tests/inferwatch/stores/test_sqlite.py``."""
    sink = open_sink(f"sqlite:///{tmp_path}/x.db")
    assert isinstance(sink, SQLiteSink)
    sink.write([_rec(i) for i in range(10)] + [_rec(100, "wine", ["partial"])])
    sink.write([_rec(3), _rec(4)])  # a retry of the same ids
    assert sink.health().ok
    sink.close()
    store = SQLiteStore(tmp_path / "x.db")
    assert store.count() == 11
    assert store.get("id-3") == _rec(3)
    store.close()


def test_unknown_scheme_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="supported schemes"):
        open_sink("mongo://x")


def test_unserialisable_record_is_stored_reduced_beside_its_batch(tmp_path: Path) -> None:
    records = [*batch(5), deep_record("deep"), *batch(5, prefix="more")]
    reg = deliver(SQLiteSink(tmp_path / "x.db"), records)
    store = SQLiteStore(tmp_path / "x.db")
    try:
        assert store.count() == 11
        deep = store.get("deep")
        assert deep is not None and deep.flags == ["reduced"] and deep.instances == []
        assert deep.request is not None and deep.request.decoded is None and deep.request.raw == records[5].request.raw  # type: ignore[union-attr]
        assert store.get("more-00004") == records[-1]
    finally:
        store.close()
    assert dropped(reg) == 0


def test_read_only_database_keeps_records_spooled_until_writable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = SQLiteSink(tmp_path / "x.db")
    sink._db.execute("PRAGMA query_only = ON")  # as a read-only file or mount refuses writes
    reg = new_registry()
    w = worker(sink, reg, tmp_path / "spool")
    w.start()
    for r in batch(10):
        assert w.offer(r)
    deadline = time.monotonic() + 20
    while metric(reg, "inferwatch_sink_blocked", sink="sqlite", reason="read_only") != 1 or w.backlog()[0] != 10:
        assert time.monotonic() < deadline, "the read-only store must block the sink and keep the records"
        time.sleep(0.05)
    assert dropped(reg) == 0 and not w.health().ok and "writable" in w.health().detail
    time.sleep(0.5)
    assert caplog.text.count("writable") == 1
    with sink._lock:
        sink._db.execute("PRAGMA query_only = OFF")
    while w.backlog()[0]:
        assert time.monotonic() < deadline + 20, "delivered once the store is writable again"
        time.sleep(0.05)
    w.stop(10)
    assert metric(reg, "inferwatch_sink_blocked", sink="sqlite", reason="read_only") == 0 and dropped(reg) == 0
    store = SQLiteStore(tmp_path / "x.db")
    assert store.count() == 10
    store.close()
