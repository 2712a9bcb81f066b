"""The ``RecordStore`` protocol: one read API over wherever the logger's records went.

A store reads what a sink wrote (``inferwatch.sinks``): the records (``InferenceRecord``) and the detector and
explainer results attached to them (``ResultRecord``). ``inferwatch audit`` searches with ``query`` and
``results_for``; the detector's feedback looks a request's logged response up with ``get``. Read failures raise
``StoreError`` (503, retriable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from inferwatch.errors import InferwatchError
from inferwatch.records import InferenceRecord
from inferwatch.results import ResultRecord

OUTLIER_FLAG = "outlier"
"""``RecordQuery.flag`` that selects records a detector flagged (from the results, not the record's flags)."""


@dataclass(frozen=True)
class RecordQuery:
    """Filters of a search; every field is optional. ``request_id`` matches every record of that request: its own,
    other graph nodes' (``<id>@<node>``), collisions' (``<id>~<suffix>``) and events' (``<id>-<kind>``)."""

    request_id: str | None = None
    model: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    flag: str | None = None
    limit: int = 100


class StoreError(InferwatchError):
    """A store could not be read (database error, search engine unreachable): trying again may help."""

    status_code = 503
    retriable = True


class RecordStore(Protocol):
    """Reads the records and results a sink wrote. Implementations are safe to share between threads."""

    description: str
    """What and where it is, for messages: ``sqlite store /path/inferwatch.db``, ``elasticsearch HOST index P*``."""

    def query(self, q: RecordQuery) -> list[InferenceRecord]:
        """Records matching ``q``, newest first, at most ``q.limit``."""
        ...

    def results_for(self, request_ids: Sequence[str]) -> list[ResultRecord]:
        """The results attached to any of ``request_ids`` (also when their record is not stored), by request and
        item."""
        ...

    def get(self, request_id: str) -> InferenceRecord | None:
        """The record logged under exactly ``request_id``, or ``None``."""
        ...

    def close(self) -> None: ...
