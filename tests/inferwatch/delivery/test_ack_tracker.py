"""``AckTracker``: a write-ahead-log entry is acknowledged only once every sink is done with every record built
from it (one entry may become several records, e.g. a batch outlier result per instance)."""

from __future__ import annotations

from pathlib import Path

from inferwatch.delivery.spool import Spool
from inferwatch.delivery.wal import AckTracker


def _spool_with(tmp_path: Path, n: int) -> tuple[Spool, list[int]]:
    spool = Spool(tmp_path / "wal", max_bytes=1 << 20)
    return spool, [spool.append(f"entry-{i}".encode()) for i in range(n)]


def test_entry_is_acked_after_every_sink(tmp_path: Path) -> None:
    spool, (seq,) = _spool_with(tmp_path, 1)
    tracker = AckTracker(spool, fanout=2)
    tracker.expect(seq)
    tracker.done([seq])
    assert tracker.pending == 1 and spool.records == 1
    tracker.done([seq])
    assert tracker.pending == 0 and spool.records == 0
    spool.close()


def test_entry_built_into_several_records_waits_for_all_of_them(tmp_path: Path) -> None:
    spool, (seq, other) = _spool_with(tmp_path, 2)
    tracker = AckTracker(spool, fanout=2)
    tracker.expect(seq)
    tracker.expect(other)
    tracker.expand(seq, 3)  # 3 records x 2 sinks
    for _ in range(5):
        tracker.done([seq])
    assert tracker.pending == 2 and spool.records == 2  # one (record, sink) still missing
    tracker.done([seq])
    tracker.done([other])
    assert tracker.pending == 1
    tracker.expand(12345, 2)  # an entry the tracker does not know is ignored
    tracker.done([other])
    assert tracker.pending == 0 and spool.records == 0
    spool.close()
