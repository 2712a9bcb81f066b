"""The worker's rules for a batch its sink did not write whole, as a pure function of the batch and the error."""

from __future__ import annotations

from datetime import UTC, datetime

from inferwatch.delivery.triage import triage
from inferwatch.errors import SinkError
from inferwatch.records import Flag, InferenceRecord
from inferwatch.sinks.failures import Block, RecordFailure, RecordsRejected, Refusal, SinkBlocked

T0 = datetime(2026, 12, 1, tzinfo=UTC)
BATCH = [InferenceRecord(id=f"r{i}", received_at=T0) for i in range(4)]


def test_named_failures_sort_the_batch() -> None:
    block = Block("read_only", "index is read-only", "remove the block")
    shed = InferenceRecord(id="r3", received_at=T0, flags=["reduced", "shed"])
    err = RecordsRejected(
        "s",
        [
            RecordFailure(0, Refusal.RETRY, "timeout", "late"),
            RecordFailure(1, Refusal.RECORD, "too_large", "big"),
            RecordFailure(2, Refusal.BLOCKED, "read_only", "blocked", block),
            RecordFailure(3, Refusal.RECORD, "too_large", "still big"),
            RecordFailure(9, Refusal.RECORD, "x", "a position outside the batch is ignored"),
        ],
        5,
    )
    v = triage([*BATCH[:3], shed, *BATCH[3:]], err)
    assert (v.written, v.again, v.block, v.isolate) == ([4], [0, 2], block, False)
    assert list(v.smaller) == [1] and v.smaller[1].flag is Flag.REDUCED and v.smaller[1].reason == "too_large"
    assert v.unwritable == {3: "too_large: still big"}
    assert err.retriable and err.details["failed"] == 5


def test_only_record_refusals_are_not_retriable() -> None:
    err = RecordsRejected("s", [RecordFailure(1, Refusal.RECORD, "unserialisable", "deep")], 4)
    assert not err.retriable
    assert triage(BATCH, err).written == [0, 2, 3]


def test_whole_batch_errors() -> None:
    block = Block("auth", "401", "check the credentials")
    blocked = triage(BATCH, SinkBlocked("s", block))
    assert (blocked.again, blocked.block) == ([0, 1, 2, 3], block)
    assert triage(BATCH, SinkError("down", retriable=True)).again == [0, 1, 2, 3]
    assert triage(BATCH, SinkError("bad", retriable=False)).isolate
    unserialisable = SinkError("TypeError: Recursion limit reached", retriable=False)
    unserialisable.__cause__ = TypeError("Recursion limit reached")
    alone = triage(BATCH[:1], unserialisable)
    assert not alone.isolate and alone.smaller[0].reason == "unserialisable"
