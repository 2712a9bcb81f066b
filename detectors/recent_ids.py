"""The ids of the last records a drift window took, kept on disk so a redelivered record is recognised after a
restart too.

``seen.log`` in the state directory is a frame log (``inferwatch.detectors.framelog``): one frame per ``add``,
its payload the JSON list of the ids added. Memory and file are bounded: the last ``keep`` ids are remembered;
once the file holds ``2 * keep`` ids it is rewritten with those ``keep`` (so rewriting costs O(1) per id
added, amortised, whatever the window size).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import orjson

from inferwatch.detectors.framelog import FrameLog

FILE = "seen.log"


class RecentIds:
    """A bounded, persisted set of record ids (most recent ``keep``). Not thread-safe: its owner serialises calls."""

    def __init__(self, state_dir: Path, keep: int) -> None:
        self.keep = keep
        self._log = FrameLog(state_dir / FILE)
        self._ids: dict[str, None] = {}  # insertion-ordered: the oldest first
        self._in_file = 0
        for payload in self._log.read():
            ids = orjson.loads(payload)
            self._in_file += len(ids)
            self._remember(ids)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: Collection[str]) -> None:
        """Remember ``ids`` (appended to the file; the file is compacted when it holds twice what is kept)."""
        if not ids or not self.keep:
            return
        self._remember(ids)
        if self._in_file + len(ids) > 2 * self.keep:
            self._log.rewrite([orjson.dumps(list(self._ids))])
            self._in_file = len(self._ids)
        else:
            self._log.append([orjson.dumps(list(ids))])
            self._in_file += len(ids)

    def _remember(self, ids: Collection[str]) -> None:
        for rid in ids:
            self._ids.pop(rid, None)
            self._ids[rid] = None
        while len(self._ids) > self.keep:
            del self._ids[next(iter(self._ids))]
