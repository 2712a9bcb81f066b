"""Reads what the Elasticsearch/OpenSearch sink wrote, so audit and feedback answer as they do for the embedded store.

The URI is the sink's (``inferwatch.sinks.search``): the same client (``connect``), the same index pattern. A record
is stored as one document per instance and results are merged into them (``inferwatch.sinks.search_docs``, which
also reads them back). ``query`` finds the newest ``limit`` request ids matching the filters, then all their
documents; ``query`` and ``results_for`` refresh the indices first (a search must see what was just written),
``get`` — once per feedback — does not: the engine shows a new record within its refresh interval (1 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from inferwatch import timestamps
from inferwatch.records import RELATED_ID_MARKS, InferenceRecord
from inferwatch.results import ResultRecord
from inferwatch.sinks.base import SinkURI
from inferwatch.sinks.naming import index_template
from inferwatch.sinks.search import SearchSinkConfig, connect, index_pattern
from inferwatch.sinks.search_docs import RECORD_FIELD, record_from_documents, results_from_document
from inferwatch.stores.base import OUTLIER_FLAG, RecordQuery, StoreError

MAX_DOCS = 10_000
"""Documents read per search (the engines' default ``index.max_result_window``)."""
_IS_RECORD = {"exists": {"field": RECORD_FIELD}}


class SearchStore:
    """The records and results in the indices of one search sink URI (see module doc)."""

    def __init__(self, config: SearchSinkConfig) -> None:
        self.engine, self.client = connect(config)
        self._errors = self.engine.errors()
        self.index_pattern = index_pattern(index_template(config.index))
        self.description = f"{config.engine} {','.join(config.hosts)} index {self.index_pattern}"

    @classmethod
    def from_uri(cls, uri: SinkURI, *, missing_ok: bool = False) -> SearchStore:
        """The store of a sink URI (``missing_ok`` concerns files; an index that does not exist yet holds nothing)."""
        return cls(SearchSinkConfig.from_uri(uri))

    def query(self, q: RecordQuery) -> list[InferenceRecord]:
        """Records matching ``q``, newest first: the newest ``q.limit`` request ids, then all their documents."""
        ids: list[str] = []
        for doc in self._search([*_filters(q), _IS_RECORD], size=min(MAX_DOCS, max(q.limit, 1) * 20)):
            rid = doc.get("id")
            if isinstance(rid, str) and rid not in ids:
                ids.append(rid)
        return self._records(ids[: q.limit])

    def results_for(self, request_ids: Sequence[str]) -> list[ResultRecord]:
        """The results merged into the documents of ``request_ids``, by request and item."""
        if not request_ids:
            return []
        docs = self._search([{"terms": {"id": list(request_ids)}}], size=MAX_DOCS, newest_first=False)
        return [result for doc in docs for result in results_from_document(doc)]

    def get(self, request_id: str) -> InferenceRecord | None:
        """The record logged under ``request_id`` (all its documents), without refreshing first."""
        found = self._records([request_id], refresh=False)
        return found[0] if found else None

    def close(self) -> None:
        self.client.close()

    def _records(self, ids: list[str], refresh: bool = True) -> list[InferenceRecord]:
        if not ids:
            return []
        by_id: dict[str, list[dict[str, Any]]] = {rid: [] for rid in ids}
        for doc in self._search([{"terms": {"id": ids}}, _IS_RECORD], size=MAX_DOCS, refresh=refresh):
            if doc.get("id") in by_id:
                by_id[doc["id"]].append(doc)
        return [record_from_documents(docs) for docs in by_id.values() if docs]

    def _search(
        self, filters: list[dict[str, Any]], size: int, newest_first: bool = True, refresh: bool = True
    ) -> list[dict[str, Any]]:
        order = "desc" if newest_first else "asc"
        body = {
            "query": {"bool": {"filter": filters}},
            "sort": [{"received_at": {"order": order}}, {"id": {"order": "asc"}}, {"item": {"order": "asc"}}],
            "size": size,
        }
        try:
            if refresh:
                self.client.indices.refresh(index=self.index_pattern, ignore_unavailable=True)
            resp = self.client.search(index=self.index_pattern, body=body, ignore_unavailable=True)
        except self._errors as e:
            raise StoreError(f"{self.description}: search failed: {e}") from e
        return [h["_source"] for h in resp["hits"]["hits"] if isinstance(h.get("_source"), dict)]


def _filters(q: RecordQuery) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if q.request_id:  # its record, its graph nodes' and collisions' (RELATED_ID_MARKS), its events' records
        rid = q.request_id
        same = [{"term": {"id": rid}}, *({"prefix": {"id": rid + m}} for m in RELATED_ID_MARKS)]
        out.append({"bool": {"should": same, "minimum_should_match": 1}})
    if q.model:
        out.append({"term": {"model_name": q.model}})
    if q.since or q.until:
        bounds: dict[str, str] = {}
        if q.since:
            bounds["gte"] = timestamps.iso(q.since)
        if q.until:
            bounds["lt"] = timestamps.iso(q.until)
        out.append({"range": {"received_at": bounds}})
    if q.flag == OUTLIER_FLAG:
        out.append({"term": {"outlier.data.is_outlier": 1}})
    elif q.flag:
        out.append({"term": {"flags": q.flag}})
    return out


if TYPE_CHECKING:
    from inferwatch.stores.base import RecordStore

    _: type[RecordStore] = SearchStore
