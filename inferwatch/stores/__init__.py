"""Record stores chosen from a table by URI scheme: ``open_store("sqlite:///tmp/x.db")`` reads what the sink of
the same URI wrote. One read API (``RecordStore``) for ``inferwatch audit`` and the detector's feedback lookups.

Adding a store is one module with a class that has ``from_uri(SinkURI, *, missing_ok)`` and one row in ``STORES``.
"""

from __future__ import annotations

from inferwatch.sinks.base import SinkURI, scheme_class
from inferwatch.stores.base import OUTLIER_FLAG, RecordQuery, RecordStore, StoreError

STORES: dict[str, str] = {
    "sqlite": "inferwatch.stores.sqlite:SQLiteStore",
    "elasticsearch": "inferwatch.stores.search:SearchStore",
    "opensearch": "inferwatch.stores.search:SearchStore",
}

__all__ = ["OUTLIER_FLAG", "STORES", "RecordQuery", "RecordStore", "StoreError", "open_store"]


def open_store(uri: str, *, missing_ok: bool = False) -> RecordStore:
    """Open the store a URI names (the URI of the sink that wrote it). A clear ``ConfigError`` for a scheme no store
    reads, a missing extra, or an embedded store file that does not exist (unless ``missing_ok``: then it is
    created empty, for a reader that may start before the logger)."""
    parsed = SinkURI.parse(uri)
    store: RecordStore = scheme_class(STORES, parsed, "no record store reads", "store").from_uri(
        parsed, missing_ok=missing_ok
    )
    return store
