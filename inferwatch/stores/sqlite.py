"""Reads the embedded store the SQLite sink writes (``inferwatch.sinks.sqlite``: its tables and connection).

``query`` filters on the indexed columns (time, model, flags) and, for ``flag="outlier"``, on the outlier results
stored for a record; ``get`` reads one row by primary key. The database is opened as the sink opens it (WAL,
tables created if missing), so a reader started before the logger finds nothing rather than failing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from inferwatch import timestamps
from inferwatch.errors import ConfigError
from inferwatch.records import RELATED_ID_MARKS, InferenceRecord
from inferwatch.results import ResultRecord
from inferwatch.sinks.base import SinkURI
from inferwatch.sinks.sqlite import connect, path_from_uri
from inferwatch.stores.base import OUTLIER_FLAG, RecordQuery, StoreError

log = logging.getLogger(__name__)

_FLAGGED_OUTLIER = (  # a detector's result says so (a single instance's flag may be a one-element list)
    "id IN (SELECT request_id FROM results WHERE kind = 'outlier' AND ("
    "json_extract(doc, '$.body.data.is_outlier') = 1 "
    "OR json_extract(doc, '$.body.data.is_outlier[0]') = 1))"
)


class SQLiteStore:
    """The records and results of one SQLite file (see module doc)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"sqlite store {path}"
        self._lock = threading.Lock()
        self._db = connect(path)

    @classmethod
    def from_uri(cls, uri: SinkURI, *, missing_ok: bool = False) -> SQLiteStore:
        """The store at the URI's path; a missing file is a ``ConfigError`` unless ``missing_ok`` (then it is
        created empty: lookups find nothing until the logger writes it)."""
        path = path_from_uri(uri)
        if not path.exists():
            if not missing_ok:
                raise ConfigError(f"no store at {path}: run the logger (or 'inferwatch demo') first, or pass --store")
            log.warning("sqlite store %s does not exist yet: lookups fail until the logger writes it", path)
        return cls(path)

    def query(self, q: RecordQuery) -> list[InferenceRecord]:
        """Records matching ``q``, newest first."""
        where: list[str] = []
        args: list[str | int] = []
        if q.request_id:  # its record, its graph nodes' and collisions' (RELATED_ID_MARKS), its events' records
            rid = q.request_id
            marks = ", ".join("?" * len(RELATED_ID_MARKS))
            where.append(f"(id = ? OR substr(id, 1, ?) IN ({marks}))")
            args += [rid, len(rid) + 1, *(rid + m for m in RELATED_ID_MARKS)]
        if q.model:
            where.append("model_name = ?")
            args.append(q.model)
        if q.since:
            where.append("received_at >= ?")
            args.append(timestamps.iso(q.since))
        if q.until:
            where.append("received_at < ?")
            args.append(timestamps.iso(q.until))
        if q.flag == OUTLIER_FLAG:
            where.append(_FLAGGED_OUTLIER)
        elif q.flag:
            where.append("(',' || flags || ',') LIKE ?")
            args.append(f"%,{q.flag},%")
        sql = "SELECT doc FROM records"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY received_at DESC LIMIT ?"
        args.append(q.limit)
        return [InferenceRecord.from_dict(orjson.loads(doc)) for doc in self._column(sql, args)]

    def results_for(self, request_ids: Sequence[str]) -> list[ResultRecord]:
        """Results attached to any of ``request_ids``, by request id, item, then time."""
        if not request_ids:
            return []
        marks = ",".join("?" * len(request_ids))
        sql = f"SELECT doc FROM results WHERE request_id IN ({marks}) ORDER BY request_id, item, created_at"
        return [ResultRecord.from_dict(orjson.loads(doc)) for doc in self._column(sql, list(request_ids))]

    def get(self, request_id: str) -> InferenceRecord | None:
        """The record stored under exactly ``request_id``."""
        docs = self._column("SELECT doc FROM records WHERE id = ?", [request_id])
        return InferenceRecord.from_dict(orjson.loads(docs[0])) if docs else None

    def results(self, kind: str | None = None, limit: int = 100) -> list[ResultRecord]:
        """The newest results (of one ``kind``, e.g. ``drift``), newest first."""
        sql = "SELECT doc FROM results" + (" WHERE kind = ?" if kind else "") + " ORDER BY created_at DESC LIMIT ?"
        args: list[str | int] = [kind, limit] if kind else [limit]
        return [ResultRecord.from_dict(orjson.loads(doc)) for doc in self._column(sql, args)]

    def count(self) -> int:
        """How many records are stored."""
        return int(self._column("SELECT COUNT(*) FROM records", [])[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _column(self, sql: str, args: Sequence[str | int]) -> list[Any]:
        """The first column of every row of ``sql``; ``StoreError`` when the database cannot be read."""
        try:
            with self._lock:
                return [doc for (doc,) in self._db.execute(sql, args).fetchall()]
        except sqlite3.Error as e:
            raise StoreError(f"{self.description}: {e}") from e


if TYPE_CHECKING:
    from inferwatch.stores.base import RecordStore

    _: type[RecordStore] = SQLiteStore
