"""The pending drift window: rows waiting for a full batch, persisted so a restart keeps them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]


class Window:
    """Collects rows until ``size`` rows or ``seconds`` since the first row, whichever comes first."""

    def __init__(self, state_dir: Path, size: int, seconds: float | None) -> None:
        self.size, self.seconds = size, seconds
        self._rows_file = state_dir / "pending.npy"
        self._meta_file = state_dir / "pending.json"
        state_dir.mkdir(parents=True, exist_ok=True)
        self.rows: Array | None = None
        self.started: float | None = None
        if self._rows_file.is_file():
            self.rows = np.load(self._rows_file, allow_pickle=False)
            meta = json.loads(self._meta_file.read_text()) if self._meta_file.is_file() else {}
            self.started = float(meta.get("started", time.time()))

    @property
    def received(self) -> int:
        return 0 if self.rows is None else int(self.rows.shape[0])

    def add(self, x: Array, now: float | None = None) -> list[tuple[Array, str]]:
        """Append rows; return every window that closed, with its trigger (``count`` or ``time``)."""
        now = time.time() if now is None else now
        if self.rows is None or self.rows.shape[0] == 0:
            self.rows, self.started = x, now
        else:
            self.rows = np.concatenate([self.rows, x.astype(self.rows.dtype, copy=False)])
        closed: list[tuple[Array, str]] = []
        while self.rows is not None and self.rows.shape[0] >= self.size:
            closed.append((self.rows[: self.size], "count"))
            self.rows = self.rows[self.size :]
            self.started = now
        closed += self.expire(now, persist=False)
        self._persist()
        return closed

    def expire(self, now: float | None = None, *, persist: bool = True) -> list[tuple[Array, str]]:
        """The pending rows as one window when it is older than ``seconds`` (time window), else nothing."""
        now = time.time() if now is None else now
        rows = self.rows
        if self.seconds is None or self.started is None or rows is None or not len(rows):
            return []
        if now - self.started < self.seconds:
            return []
        out, self.rows, self.started = [(rows, "time")], None, None
        if persist:
            self._persist()
        return out

    def _persist(self) -> None:
        rows = self.rows
        if rows is None or not len(rows):
            self._rows_file.unlink(missing_ok=True)
            self._meta_file.unlink(missing_ok=True)
            return
        tmp = self._rows_file.with_suffix(".tmp.npy")
        np.save(tmp, rows, allow_pickle=False)
        os.replace(tmp, self._rows_file)
        self._meta_file.write_text(json.dumps({"started": self.started}))
