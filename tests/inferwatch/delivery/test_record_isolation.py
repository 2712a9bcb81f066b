"""One record never fails its batch: what a sink cannot write as it is goes in reduced form (or is dropped,
alone and counted), while its neighbours are written — through the real pipeline and the embedded store."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inferwatch.capture import Body, Exchange, RecordBuilder
from inferwatch.delivery import DeliveryMetrics, DeliveryOptions, Pipeline
from inferwatch.errors import SinkError
from inferwatch.limits import HttpLimits
from inferwatch.metrics import new_registry
from inferwatch.records import Flag, InferenceRecord, PayloadRecord
from inferwatch.results import Record
from inferwatch.sinks.base import SinkHealth
from inferwatch.sinks.failures import Block, RecordFailure, RecordsRejected, Refusal, SinkBlocked
from inferwatch.sinks.sqlite import SQLiteSink
from inferwatch.stores.sqlite import SQLiteStore
from tests.inferwatch.sinks.sink_records import deep_record
from tests.inferwatch.sinks.through_worker import deliver, dropped, metric, worker

GOOD = b'{"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}'
DEEP = b'{"data": {"ndarray": ' + b"[" * 300 + b"1" + b"]" * 300 + b"}}"  # parses (orjson: 1024), won't serialise


def _exchange(rid: str, request: bytes) -> Exchange:
    t = time.time()
    return Exchange(
        request_id=rid,
        received_at=t,
        responded_at=t,
        status_code=200,
        method="POST",
        path="/api/v1.0/predictions",
        request=Body(request, "application/json", len(request)),
        response=Body(GOOD, "application/json", len(GOOD)),
    )


def test_a_deeply_nested_request_is_stored_reduced_and_its_20_neighbours_in_full(tmp_path: Path) -> None:
    reg = new_registry()
    opts = DeliveryOptions(batch_size=50, linger=0.2, max_retries=1, retry_backoff=0.01, shutdown_timeout=20)
    # without the JSON depth limit (the logger's records the deep body undecoded: tests/logger/test_limits.py)
    builder = RecordBuilder(limits=HttpLimits(json_depth=1024))
    p = Pipeline([SQLiteSink(tmp_path / "store.db")], builder.build, DeliveryMetrics(reg), opts)
    p.start()
    ids = [f"good-{i:02d}" for i in range(20)]
    for rid in ids[:10]:
        assert p.submit(_exchange(rid, GOOD))
    assert p.submit(_exchange("deep", DEEP))
    for rid in ids[10:]:
        assert p.submit(_exchange(rid, GOOD))
    p.stop()

    store = SQLiteStore(tmp_path / "store.db")
    try:
        assert store.count() == 21, "every request stored, the deep one too"
        for rid in ids:
            rec = store.get(rid)
            assert rec is not None and rec.flags == [] and rec.instances
        deep = store.get("deep")
        assert deep is not None
        assert "reduced" in deep.flags
        assert deep.request is not None and deep.request.raw == DEEP.decode() and deep.request.decoded is None
        assert deep.instances == []
    finally:
        store.close()
    assert dropped(reg) == 0
    assert metric(reg, "inferwatch_sink_records_written_total", sink="sqlite") == 21
    assert metric(reg, "inferwatch_records_reduced_total", sink="sqlite", reason="unserialisable") == 1


# --- the rules, with sinks that refuse on purpose ------------------------------------------------------


class Refusing:
    """A sink keeping what it accepts; ``refuse(record)`` says how it refuses one (``None``: accepted)."""

    def __init__(self, refuse: Callable[[Record], RecordFailure | None], name: str = "mem") -> None:
        self.name = name
        self.refuse = refuse
        self.stored: dict[str, Record] = {}
        self.writes: list[list[str]] = []
        self.down = False
        self.block: Block | None = None

    def write(self, records: Sequence[Record]) -> None:
        self.writes.append([r.id for r in records])
        if self.down:
            raise SinkError("connection refused", retriable=True)
        if self.block is not None:
            raise SinkBlocked(self.name, self.block)
        failures = []
        for pos, r in enumerate(records):
            failure = self.refuse(r)
            if failure is None:
                self.stored[r.id] = r
            else:
                failures.append(replace(failure, position=pos))
        if failures:
            raise RecordsRejected(self.name, failures, len(records))

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def health(self) -> SinkHealth:
        return SinkHealth(True, "fine")


T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _records(n: int, prefix: str = "r") -> list[Record]:
    body = PayloadRecord(size=20, raw='{"data": {"ndarray": [[1, 2]]}}', decoded={"data": {"ndarray": [[1, 2]]}})
    return [
        InferenceRecord(id=f"{prefix}{i}", received_at=T0, request=replace(body), instances=[{"request": {"a": 1}}])
        for i in range(n)
    ]


def _too_large(limit: int) -> Callable[[Record], RecordFailure | None]:
    def refuse(r: Record) -> RecordFailure | None:
        size = len(r.to_json())
        return RecordFailure(0, Refusal.RECORD, "too_large", f"{size} > {limit}") if size > limit else None

    return refuse


def test_records_refused_for_their_size_go_reduced_then_shed_and_their_neighbours_are_written(tmp_path: Path) -> None:
    records = _records(5)
    assert isinstance(records[2], InferenceRecord) and records[2].request is not None
    records[2].request.raw = "x" * 5000  # too large whole and reduced: shed
    records[3].instances = [{"request": {"a": "y" * 5000}}]  # too large whole only: reduced
    sink = Refusing(_too_large(1000))
    reg = deliver(sink, records)
    assert set(sink.stored) == {r.id for r in records}
    flags = {rid: r.flags for rid, r in sink.stored.items() if isinstance(r, InferenceRecord)}
    assert flags == {"r0": [], "r1": [], "r2": ["reduced", "shed"], "r3": ["reduced"], "r4": []}
    assert sink.writes == [["r0", "r1", "r2", "r3", "r4"], ["r2", "r3"], ["r2"]], "neighbours are never rewritten"
    assert metric(reg, "inferwatch_records_reduced_total", sink="mem", reason="too_large") == 2
    assert metric(reg, "inferwatch_sink_records_written_total", sink="mem") == 5
    assert dropped(reg) == 0 and metric(reg, "inferwatch_sink_up", sink="mem") == 1


def test_a_record_refused_in_every_form_is_dropped_alone_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    records = _records(4)
    records[1] = replace(records[1], error="e" * 5000)  # nothing to leave out makes it smaller
    sink = Refusing(_too_large(1000))
    reg = deliver(sink, records)
    assert set(sink.stored) == {"r0", "r2", "r3"}
    assert metric(reg, "inferwatch_records_dropped_total", sink="mem", reason="unwritable") == 1 == dropped(reg)
    assert "dropped record r1" in caplog.text


def test_only_the_records_refused_for_a_passing_reason_are_written_again() -> None:
    tries: dict[str, int] = {}

    def flaky(r: Record) -> RecordFailure | None:
        tries[r.id] = tries.get(r.id, 0) + 1
        if r.id == "r3" and tries[r.id] == 1:
            return RecordFailure(0, Refusal.RETRY, "timeout", "not acknowledged in time")
        return None

    sink = Refusing(flaky)
    reg = deliver(sink, _records(6))
    assert sink.writes == [["r0", "r1", "r2", "r3", "r4", "r5"], ["r3"]]
    assert len(sink.stored) == 6 and dropped(reg) == 0
    assert metric(reg, "inferwatch_sink_records_written_total", sink="mem") == 6
    assert metric(reg, "inferwatch_sink_errors_total", sink="mem") == 1


class Choking:
    """A sink that fails a whole batch, without saying why, whenever ``bad`` is in it (any form of it)."""

    name = "choke"

    def __init__(self) -> None:
        self.stored: list[str] = []

    def write(self, records: Sequence[Record]) -> None:
        if any(r.id == "bad" for r in records):
            raise ValueError("unexpected value")
        self.stored.extend(r.id for r in records)

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def health(self) -> SinkHealth:
        return SinkHealth(True)


def test_a_batch_refused_whole_without_detail_is_written_one_record_at_a_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records = [*_records(3), *_records(1, prefix="bad"), *_records(3, prefix="s")]
    records[3] = replace(records[3], id="bad")
    sink = Choking()
    reg = deliver(sink, records)
    assert sink.stored == ["r0", "r1", "r2", "s0", "s1", "s2"]
    assert metric(reg, "inferwatch_records_dropped_total", sink="choke", reason="unwritable") == 1 == dropped(reg)
    assert "dropped record bad" in caplog.text and "ValueError: unexpected value" in caplog.text


def test_a_blocked_sink_keeps_records_spooled_says_so_once_and_delivers_once_unblocked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "inferwatch.delivery")
    sink = Refusing(lambda r: None)
    sink.block = Block("read_only", "index logs-1 is read-only", "remove the block")
    reg = new_registry()
    w = worker(sink, reg, tmp_path / "spool")
    w.start()
    for r in _records(30):
        assert w.offer(r)
    _wait("blocked and spooled", lambda: metric(reg, "inferwatch_sink_blocked", sink="mem", reason="read_only") == 1)
    _wait("all spooled", lambda: w.backlog()[0] == 30)
    health = w.health()
    assert not health.ok and health.detail == "blocked (read_only): index logs-1 is read-only. To fix: remove the block"
    time.sleep(1.0)  # probed every 6 * probe_max = 0.6 s
    assert len(sink.writes) >= 2
    assert caplog.text.count("To fix: remove the block") == 1, "said once, not per batch"
    sink.block = None
    _wait("delivered", lambda: len(sink.stored) == 30)
    w.stop(10)
    assert metric(reg, "inferwatch_sink_blocked", sink="mem", reason="read_only") == 0
    assert dropped(reg) == 0 and w.health().ok and "no longer blocked" in caplog.text


def test_a_blocked_sink_without_spool_drops_after_its_retries_counted_as_blocked() -> None:
    sink = Refusing(lambda r: None)
    sink.block = Block("auth", "401 unauthorized", "check the credentials")
    reg = deliver(sink, _records(3))
    assert metric(reg, "inferwatch_records_dropped_total", sink="mem", reason="sink_blocked") == 3


def test_replayed_records_are_settled_once_even_when_their_batch_is_read_again(tmp_path: Path) -> None:
    """The spool batch is rewound while one record fails for a passing reason: the written ones are not written
    again, the unwritable one is not dropped twice, the reduced one keeps its reduced form."""
    tries: dict[str, int] = {}

    def refuse(r: Record) -> RecordFailure | None:
        tries[r.id] = tries.get(r.id, 0) + 1
        if r.id == "flaky" and tries[r.id] == 1:
            return RecordFailure(0, Refusal.RETRY, "timeout", "try again")
        if r.id in ("bad", "big") and isinstance(r, InferenceRecord) and not r.has(Flag.REDUCED):
            return RecordFailure(0, Refusal.RECORD, "too_large", "too large")
        if r.id == "bad":
            return RecordFailure(0, Refusal.RECORD, "too_large", "too large")
        return None

    records = _records(4)
    for i, rid in ((1, "flaky"), (2, "bad"), (3, "big")):
        records[i] = replace(records[i], id=rid)
    sink = Refusing(refuse)
    sink.down = True
    reg = new_registry()
    w = worker(sink, reg, tmp_path / "spool")
    w.start()
    for r in records:
        assert w.offer(r)
    _wait("spooled", lambda: w.backlog()[0] == 4)
    sink.down = False
    _wait("replayed", lambda: w.backlog()[0] == 0)
    w.stop(10)
    assert set(sink.stored) == {"r0", "flaky", "big"}
    assert sink.stored["big"].flags == ["reduced"]  # type: ignore[union-attr]
    assert tries["r0"] == 1, "a record written from the spool is not written again when its batch is re-read"
    assert metric(reg, "inferwatch_records_dropped_total", sink="mem", reason="unwritable") == 1 == dropped(reg)
    assert metric(reg, "inferwatch_records_reduced_total", sink="mem", reason="too_large") == 2
    assert metric(reg, "inferwatch_spool_replayed_total", sink="mem") == 4


def test_an_unserialisable_record_is_spooled_reduced(tmp_path: Path) -> None:
    sink = Refusing(lambda r: None)
    sink.down = True
    reg = new_registry()
    w = worker(sink, reg, tmp_path / "spool")
    w.start()
    good = _records(3)
    for r in good:
        assert w.offer(r)
    _wait("spooled", lambda: w.backlog()[0] == 3)
    assert w.offer(deep_record("deep"))  # a backlog exists: it goes straight to the spool
    assert w.backlog()[0] == 4
    sink.down = False
    _wait("replayed", lambda: w.backlog()[0] == 0)
    w.stop(10)
    assert set(sink.stored) == {"r0", "r1", "r2", "deep"}
    assert sink.stored["deep"].flags == ["reduced"]  # type: ignore[union-attr]
    assert metric(reg, "inferwatch_records_reduced_total", sink="mem", reason="unserialisable") == 1
    assert dropped(reg) == 0


def _wait(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.02)


def test_two_spooled_records_with_one_id_stay_two_when_their_batch_is_read_again(tmp_path: Path) -> None:
    failed_once: list[bool] = []
    written: list[tuple[str, object]] = []

    def refuse(r: Record) -> RecordFailure | None:
        if r.tags.get("half") == "response" and not failed_once:  # type: ignore[union-attr]
            failed_once.append(True)
            return RecordFailure(0, Refusal.RETRY, "timeout", "try again")
        written.append((r.id, r.tags.get("half")))  # type: ignore[union-attr]
        return None

    first, second = _records(2)
    first = replace(first, id="dup", tags={"half": "request"})  # e.g. two partial records of one exchange
    second = replace(second, id="dup", tags={"half": "response"})
    sink = Refusing(refuse)
    sink.down = True
    reg = new_registry()
    w = worker(sink, reg, tmp_path / "spool")
    w.start()
    assert w.offer(first) and w.offer(second)
    _wait("spooled", lambda: w.backlog()[0] == 2)
    sink.down = False
    _wait("replayed", lambda: w.backlog()[0] == 0)
    w.stop(10)
    assert written == [("dup", "request"), ("dup", "response")]
