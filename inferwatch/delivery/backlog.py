"""A sink's on-disk backlog: records that could not go to the sink yet, in delivery order.

Two spools under ``<spool_dir>/<sink>/``, replayed ``retry`` first, then ``overflow``:

- ``overflow`` — new records that did not fit in the worker's memory queue, or arrived while a backlog
  existed (so nothing overtakes what is on disk);
- ``retry`` — records the worker held in memory (a failing batch and the rest of its queue) when the sink
  kept failing after its retries. They are older than anything in ``overflow``; the lane is empty
  whenever it is written (see ``SinkWorker``), so order is preserved.

Records are stored as their ``to_json()`` (``inferwatch.jsonenc``; ``InferenceRecord`` or ``ResultRecord``, told
apart by ``record_type`` on decode); the two lanes share one ``max_bytes``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import orjson

from inferwatch.delivery.spool import FRAME_OVERHEAD, Frame, Spool, SpoolFull
from inferwatch.results import Record
from inferwatch.results import decode_record as _decode

Lane = Literal["retry", "overflow"]


def encode_record(record: Record) -> bytes:
    """A spool frame's payload: the record's JSON, as every sink stores it."""
    return record.to_json()


def decode_record(payload: bytes) -> Record:
    return _decode(orjson.loads(payload))


class SinkBacklog:
    """The two lanes of one sink's spool directory."""

    def __init__(self, directory: Path, *, max_bytes: int, fsync: bool, segment_bytes: int | None = None):
        self.directory = directory
        self.max_bytes = max_bytes
        seg = segment_bytes or max(4096, min(64 << 20, max_bytes // 8))
        self.lanes: dict[Lane, Spool] = {}
        for lane in ("retry", "overflow"):
            try:
                self.lanes[lane] = Spool(directory / lane, max_bytes=max_bytes, segment_bytes=seg, fsync=fsync)
            except BaseException:
                self.close()
                raise

    @staticmethod
    def has_data(directory: Path) -> bool:
        return any(Spool.has_data(directory / lane) for lane in ("retry", "overflow"))

    @property
    def records(self) -> int:
        return sum(s.records for s in self.lanes.values())

    @property
    def size_bytes(self) -> int:
        return sum(s.size_bytes for s in self.lanes.values())

    def append(self, lane: Lane, record: Record) -> int:
        """Spool one record (not yet synced); ``SpoolFull`` when the sink's spool is at its bound."""
        payload = encode_record(record)
        used = self.size_bytes
        if used + FRAME_OVERHEAD + len(payload) > self.max_bytes:
            raise SpoolFull(f"spool {self.directory} is full ({used} of {self.max_bytes} bytes)")
        return self.lanes[lane].append(payload)

    def read(self, max_records: int) -> tuple[Lane, list[Frame]]:
        """The next batch in delivery order: from ``retry`` while it has a backlog, else ``overflow``."""
        retry = self.lanes["retry"]
        if retry.records:
            return "retry", retry.read(max_records)
        return "overflow", self.lanes["overflow"].read(max_records)

    def ack(self, lane: Lane, frames: list[Frame]) -> None:
        if frames:
            self.lanes[lane].ack_through(frames[-1][0])

    def rewind(self) -> None:
        for s in self.lanes.values():
            s.rewind()

    def sync(self) -> None:
        for s in self.lanes.values():
            s.sync()

    def close(self) -> None:
        for s in self.lanes.values():
            s.close()
