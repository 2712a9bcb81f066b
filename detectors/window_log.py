"""The pending drift window on disk: ``window.log``, one frame per request that added rows.

``window.log`` is a frame log (``inferwatch.detectors.framelog``). Each frame is one ``Chunk``::

    u32 header length | header (JSON: {"t": arrival time, "ids": [record ids], "dtype": "<f8", "shape": [n, k]})
    | the rows' bytes (C order)

A request appends one frame (cost: its own rows, not the window's). When a window closes, the log is replaced
atomically by the rows left over (the tail of the request that closed it) or removed, so closed windows never
come back. The first frame's ``t`` is when the pending window started. A crash mid-append loses that append
only (its frame is torn and cut off on the next load).

Earlier versions kept the window as ``pending.npy`` (rewritten whole on every request) and ``pending.json``
(``{"started": t}``); ``load`` converts them to a ``window.log`` and removes them.
"""

from __future__ import annotations

import json
import logging
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from inferwatch.detectors.framelog import FrameLog
from inferwatch.errors import ConfigError

log = logging.getLogger("inferwatch.detectors.window_log")

Array = np.ndarray[Any, Any]
FILE = "window.log"
LEGACY_ROWS, LEGACY_META = "pending.npy", "pending.json"
_LEN = struct.Struct("<I")


@dataclass(frozen=True)
class Chunk:
    """Rows added together: when they arrived and the ids of the records they came from (if known)."""

    rows: Array
    t: float
    ids: tuple[str, ...] = ()


def encode(chunk: Chunk) -> bytes:
    rows = np.ascontiguousarray(chunk.rows)
    header = {"t": chunk.t, "ids": list(chunk.ids), "dtype": rows.dtype.str, "shape": list(rows.shape)}
    head = orjson.dumps(header)
    return _LEN.pack(len(head)) + head + rows.tobytes()


def decode(payload: bytes) -> Chunk:
    (n,) = _LEN.unpack_from(payload)
    header = orjson.loads(payload[_LEN.size : _LEN.size + n])
    dtype = np.dtype(header["dtype"])
    if dtype.kind not in "biuf":
        raise ValueError(f"rows of dtype {dtype} in a window frame")
    rows = np.frombuffer(payload, dtype=dtype, offset=_LEN.size + n).reshape(header["shape"])
    return Chunk(rows, float(header["t"]), tuple(str(i) for i in header["ids"]))


class WindowLog:
    """The persisted pending window of one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self._log = FrameLog(state_dir / FILE)

    def load(self) -> list[Chunk]:
        """The pending window's chunks (converting a legacy ``pending.npy`` first)."""
        self._migrate()
        return self.read()

    def read(self) -> list[Chunk]:
        """The chunks of ``window.log`` as they are (no conversion); ``ConfigError`` if a frame is not a chunk."""
        try:
            return [decode(p) for p in self._log.read()]
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{self._log.path}: pending drift window unreadable ({e}); delete that file") from e

    def append(self, chunk: Chunk) -> None:
        self._log.append([encode(chunk)])

    def replace(self, chunks: list[Chunk]) -> None:
        """The pending window is now ``chunks`` (atomic; none removes the file)."""
        self._log.rewrite([encode(c) for c in chunks])

    def _migrate(self) -> None:
        rows_file, meta_file = self.dir / LEGACY_ROWS, self.dir / LEGACY_META
        if not rows_file.is_file():
            meta_file.unlink(missing_ok=True)
            return
        if not self._log.path.exists():  # else a conversion was interrupted after writing the log
            rows = _legacy_rows(rows_file)
            self.replace([Chunk(rows, _legacy_started(meta_file))] if len(rows) else [])
            log.info("pending drift window of %d rows in %s converted to %s", len(rows), rows_file, FILE)
        rows_file.unlink()
        meta_file.unlink(missing_ok=True)


def stored_width(state_dir: Path) -> int | None:
    """How many features the pending window on disk has (either format); ``None`` when there is none."""
    if (state_dir / FILE).is_file():
        chunks = WindowLog(state_dir).read()
        return int(chunks[0].rows.shape[1]) if chunks and chunks[0].rows.ndim == 2 else None
    if (state_dir / LEGACY_ROWS).is_file():
        rows = _legacy_rows(state_dir / LEGACY_ROWS)
        return int(rows.shape[1]) if rows.ndim == 2 and len(rows) else None
    return None


def _legacy_rows(path: Path) -> Array:
    try:
        rows: Array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: pending drift window unreadable ({e}); delete that file") from e
    return rows


def _legacy_started(path: Path) -> float:
    """``pending.json``'s start time; it was written in place, so it may be torn: then the window starts now."""
    try:
        return float(json.loads(path.read_text())["started"])
    except (OSError, ValueError, KeyError, TypeError):
        return time.time()
