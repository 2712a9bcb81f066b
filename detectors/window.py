"""The pending drift window: rows waiting for a full batch (or their time), persisted so a restart keeps them.

Persistence (``inferwatch.detectors.window_log``) costs what a request adds, not what the window holds. Rows
may come with the id of the record they belong to (``detector consume``: the Kafka record's id): such a record
seen again - in the pending window, or among the last ``remember`` records before it - is not added again, so
at-least-once redelivery counts every record once. The ids live in the window's frames and in ``seen.log``
(``inferwatch.detectors.recent_ids``); a record's rows and its id are written by the same append.

Closing a window is two steps: ``add``/``expire`` hand out the closed rows, ``commit`` forgets them on disk. The
owner commits once it has dealt with them (predicted, and the result published durably where that matters): a
crash in between closes the same window again after the restart, it never loses it.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from inferwatch.detectors.recent_ids import RecentIds
from inferwatch.detectors.window_log import Chunk, WindowLog

Array = np.ndarray[Any, Any]
REMEMBER = 10_000
"""Record ids remembered beyond the pending window's own (a redelivered Kafka batch is at most one poll, 500)."""


class Window:
    """Collects rows until ``size`` rows or ``seconds`` since the first row, whichever comes first.

    Not thread-safe: its owner (``DetectorCore``) serialises calls."""

    def __init__(self, state_dir: Path, size: int, seconds: float | None, *, remember: int = REMEMBER) -> None:
        self.size, self.seconds = size, seconds
        state_dir.mkdir(parents=True, exist_ok=True)
        self._log = WindowLog(state_dir)
        self.chunks: deque[Chunk] = deque(self._log.load())
        self.received = sum(len(c.rows) for c in self.chunks)
        self.recent = RecentIds(state_dir, remember)
        self._ids = {rid for c in self.chunks for rid in c.ids}
        self.recent.add([rid for rid in self._ids if rid not in self.recent])  # a crash between the two appends
        self._closed = False

    @property
    def started(self) -> float | None:
        return self.chunks[0].t if self.chunks else None

    @property
    def rows(self) -> Array | None:
        """The pending rows as one matrix (``None`` when there are none)."""
        return np.concatenate([c.rows for c in self.chunks]) if self.chunks else None

    def seen(self, record_id: str) -> bool:
        """Whether rows of this record were already added (pending, or among the ``remember`` before)."""
        return record_id in self._ids or record_id in self.recent

    def add(self, x: Array, now: float | None = None, record_id: str | None = None) -> list[tuple[Array, str]]:
        """Append rows; return every window that closed, with its trigger (``count`` or ``time``)."""
        now = time.time() if now is None else now
        if len(x):
            if self.chunks:
                x = x.astype(self.chunks[0].rows.dtype, copy=False)
            chunk = Chunk(x, now, (record_id,) if record_id is not None else ())
            self._log.append(chunk)
            self.recent.add(chunk.ids)
            self.chunks.append(chunk)
            self.received += len(x)
            self._ids.update(chunk.ids)
        closed = [(self._take(self.size, now), "count") for _ in range(self.received // self.size)]
        return closed + self._expire(now)

    def expire(self, now: float | None = None) -> list[tuple[Array, str]]:
        """The pending rows as one window when it is older than ``seconds`` (time window), else nothing."""
        return self._expire(time.time() if now is None else now)

    def commit(self) -> None:
        """Make the windows closed since the last commit final on disk (the log keeps only what is pending)."""
        if self._closed:
            self._persist()
            self._closed = False

    def _expire(self, now: float) -> list[tuple[Array, str]]:
        started = self.started
        if self.seconds is None or started is None or now - started < self.seconds:
            return []
        return [(self._take(self.received, now), "time")]

    def _take(self, n: int, now: float) -> Array:
        """Remove the first ``n`` rows; what is left is a window that starts ``now``."""
        taken, left = [], n
        while left:
            head = self.chunks[0]
            if len(head.rows) <= left:
                taken.append(head.rows)
                left -= len(head.rows)
                self.chunks.popleft()
            else:
                taken.append(head.rows[:left])
                self.chunks[0] = replace(head, rows=head.rows[left:])
                left = 0
        self.received -= n
        self._closed = True
        if self.chunks:
            self.chunks[0] = replace(self.chunks[0], t=now)
        self._ids = {rid for c in self.chunks for rid in c.ids}
        return np.concatenate(taken)

    def _persist(self) -> None:
        """After windows closed: the log holds what is left (usually the tail of the last request), or nothing."""
        self._log.replace(list(self.chunks))
