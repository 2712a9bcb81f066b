"""``write_all``'s rules (pure logic: a scripted sink stands in): passing failures are tried again until written,
refused records go smaller and then out as unwritable, an unexplained failure is isolated, a stop interrupts."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from inferwatch.consumers.writer import Backoff, Stopped, write_all
from inferwatch.errors import SinkError
from inferwatch.records import Flag, InferenceRecord
from inferwatch.results import Record
from inferwatch.sinks import SinkHealth
from inferwatch.sinks.failures import RecordFailure, RecordsRejected, Refusal
from tests.consumers.kafka_data import logger_records

FAST = Backoff(initial=0.001, maximum=0.002)


class ScriptedSink:
    """Raises what ``script`` says for each write (``None``: writes the batch), remembering what it stored."""

    name = "scripted"

    def __init__(self, script: list[object]) -> None:
        self.script = list(script)
        self.stored: dict[str, Record] = {}
        self.calls: list[list[str]] = []

    def write(self, records: Sequence[Record]) -> None:
        self.calls.append([r.id for r in records])
        step = self.script.pop(0) if self.script else None
        if callable(step):
            step = step(records)
        if isinstance(step, BaseException):
            if isinstance(step, RecordsRejected):
                failed = {f.position for f in step.failures}
                self.stored.update({r.id: r for i, r in enumerate(records) if i not in failed})
            raise step
        self.stored.update({r.id: r for r in records})

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def health(self) -> SinkHealth:
        return SinkHealth(True)


def test_passing_failures_are_tried_again_until_written() -> None:
    records = logger_records(5)
    retries: list[str] = []
    sink = ScriptedSink([SinkError("es down", retriable=True), SinkError("es down", retriable=True), None])
    written, unwritable = write_all(sink, records, backoff=FAST, on_retry=retries.append)
    assert (written, unwritable, len(sink.stored), len(retries)) == (5, [], 5, 2)


def test_a_429_on_some_records_retries_only_those() -> None:
    records = logger_records(4)
    busy = RecordsRejected("scripted", [RecordFailure(1, Refusal.RETRY, "429", "too many requests")], 4)
    sink = ScriptedSink([busy, None])
    written, unwritable = write_all(sink, records, backoff=FAST)
    assert written == 4 and not unwritable
    assert sink.calls == [[r.id for r in records], [records[1].id]]


def test_a_refused_record_is_written_smaller_then_unwritable_alone() -> None:
    records = logger_records(3)

    def refuse_middle(batch: Sequence[Record]) -> RecordsRejected | None:
        bad = [i for i, r in enumerate(batch) if r.id == records[1].id]
        return RecordsRejected("scripted", [RecordFailure(i, Refusal.RECORD, "mapping", "no") for i in bad], 3)

    sink = ScriptedSink([refuse_middle] * 10)
    written, unwritable = write_all(sink, records, backoff=FAST)
    assert written == 2 and [u.record.id for u in unwritable] == [records[1].id]
    assert "mapping" in unwritable[0].reason
    shrunk = [c for c in sink.calls if c == [records[1].id]]
    assert len(shrunk) == 2, "reduced, then shed, then given up"


def test_a_reduced_form_that_is_accepted_is_written() -> None:
    records = logger_records(2)
    refuse_once = RecordsRejected("scripted", [RecordFailure(0, Refusal.RECORD, "too_large", "big")], 2)
    sink = ScriptedSink([refuse_once, None])
    written, unwritable = write_all(sink, records, backoff=FAST)
    assert written == 2 and not unwritable
    stored = sink.stored[records[0].id]
    assert isinstance(stored, InferenceRecord) and stored.has(Flag.REDUCED)


def test_an_unexplained_failure_is_isolated_record_by_record() -> None:
    records = logger_records(3)

    def fail_if_poison(batch: Sequence[Record]) -> SinkError | None:
        return SinkError("bad batch", retriable=False) if any(r.id == records[2].id for r in batch) else None

    sink = ScriptedSink([fail_if_poison] * 10)
    written, unwritable = write_all(sink, records, backoff=FAST)
    assert written == 2 and [u.record.id for u in unwritable] == [records[2].id]


def test_a_stop_while_failing_raises_stopped() -> None:
    stop = threading.Event()
    stop.set()
    sink = ScriptedSink([SinkError("down", retriable=True)] * 5)
    with pytest.raises(Stopped):
        write_all(sink, logger_records(1), stop=stop, backoff=Backoff(initial=10, maximum=10))


def test_keepalive_is_called_while_waiting() -> None:
    calls: list[int] = []
    sink = ScriptedSink([SinkError("down", retriable=True), None])
    write_all(sink, logger_records(1), backoff=Backoff(initial=0.01, maximum=0.01), keepalive=lambda: calls.append(1))
    assert calls == [1]
