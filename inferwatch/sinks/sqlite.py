"""The embedded default store: one SQLite database (WAL), no set-up, searchable by ``inferwatch audit``.

URI: ``sqlite:///absolute/path.db`` or ``sqlite://relative/path.db``. One row per request id; writing the
same id again replaces the row, so retries and replays never duplicate. Detector and explainer results
(``ResultRecord``) go to a ``results`` table, one row per result id (upserted the same way), keyed by the
request id they belong to. This module writes; ``inferwatch.stores.sqlite`` reads the same file (``SCHEMA``,
``connect``: the tables are declared here once).

Each record is serialised on its own: one that cannot be (``TypeError``) is reported in ``RecordsRejected`` and the
rest of the batch is written. A database that refuses writes until a person acts — read-only (file, folder or
mount), disk full — raises ``SinkBlocked`` saying what to do; other SQLite errors are retriable.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from inferwatch import timestamps
from inferwatch.errors import ConfigError, SinkError
from inferwatch.records import InferenceRecord
from inferwatch.results import Record
from inferwatch.sinks.base import Sink, SinkHealth, SinkURI
from inferwatch.sinks.failures import Block, RecordFailure, RecordsRejected, Refusal, SinkBlocked

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    received_at TEXT NOT NULL,
    model_name TEXT,
    deployment TEXT,
    namespace TEXT,
    status_code INTEGER,
    flags TEXT NOT NULL,
    doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS records_received ON records (received_at);
CREATE INDEX IF NOT EXISTS records_model ON records (model_name, received_at);
CREATE TABLE IF NOT EXISTS results (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    request_id TEXT,
    item INTEGER,
    created_at TEXT NOT NULL,
    model_name TEXT,
    doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS results_request ON results (request_id);
CREATE INDEX IF NOT EXISTS results_created ON results (kind, created_at);
"""
"""The tables (``records``: one row per request id, ``doc`` = the record's JSON; ``results``: one row per result id)."""


def path_from_uri(uri: SinkURI) -> Path:
    """The database file a ``sqlite://`` URI names."""
    raw = uri.netloc + uri.path if uri.netloc else uri.path
    if not raw:
        raise ConfigError(f"sqlite URI needs a file path, e.g. sqlite:///tmp/inferwatch.db (got {uri.uri!r})")
    return Path(raw)


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the database at ``path`` (created with ``SCHEMA`` if missing, WAL journal), usable from any
    thread: callers serialise its use with a lock of their own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, timeout=30.0)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    return db


class SQLiteSink:
    """Sink writing records and results to a local SQLite file (read back by ``inferwatch.stores.sqlite``)."""

    def __init__(self, path: Path, name: str = "sqlite") -> None:
        self.name = name
        self.path = path
        self._lock = threading.Lock()
        self._db = connect(path)

    @classmethod
    def from_uri(cls, uri: SinkURI) -> SQLiteSink:
        return cls(path_from_uri(uri))

    def write(self, records: Sequence[Record]) -> None:
        rows: list[tuple[object, ...]] = []
        results: list[tuple[object, ...]] = []
        failures: list[RecordFailure] = []
        for pos, r in enumerate(records):
            try:
                doc = r.to_json()
            except TypeError as e:
                failures.append(RecordFailure(pos, Refusal.RECORD, "unserialisable", f"record {r.id}: {e}"))
                continue
            if isinstance(r, InferenceRecord):
                received = timestamps.iso(r.received_at)
                rows.append(
                    (r.id, received, r.model_name, r.deployment, r.namespace, r.status_code, ",".join(r.flags), doc)
                )
            else:
                results.append((r.id, r.kind, r.request_id, r.item, timestamps.iso(r.created_at), r.model_name, doc))
        try:
            with self._lock, self._db:
                if rows:
                    self._db.executemany("INSERT OR REPLACE INTO records VALUES (?,?,?,?,?,?,?,?)", rows)
                if results:
                    self._db.executemany("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?)", results)
        except sqlite3.Error as e:
            raise self._error(e) from e
        if failures:
            raise RecordsRejected(self.name, failures, len(records))

    def _error(self, e: sqlite3.Error) -> SinkError:
        """``SinkBlocked`` for what a person has to fix (read-only, disk full), else a retriable ``SinkError``."""
        code = getattr(e, "sqlite_errorname", "")
        folder = self.path.parent
        if code.startswith("SQLITE_READONLY"):
            remedy = f"make {self.path} and {folder} writable by the logger, on a file system mounted read-write"
            return SinkBlocked(self.name, Block("read_only", f"sqlite store {self.path} refuses writes: {e}", remedy))
        if code.startswith("SQLITE_FULL"):
            remedy = f"free space on the disk holding {folder}"
            return SinkBlocked(self.name, Block("disk_full", f"sqlite store {self.path}: {e}", remedy))
        return SinkError(f"sqlite store {self.path}: {e}", retriable=True)

    def flush(self) -> None:
        """Every ``write`` commits; nothing is buffered."""

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def health(self) -> SinkHealth:
        try:
            with self._lock:
                self._db.execute("SELECT 1").fetchone()
        except sqlite3.Error as e:
            return SinkHealth(False, str(e))
        return SinkHealth(True, str(self.path))


if TYPE_CHECKING:  # mypy fails here if SQLiteSink drifts from the Sink protocol
    _: type[Sink] = SQLiteSink
