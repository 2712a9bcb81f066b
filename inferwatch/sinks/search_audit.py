"""Audit search over the search-engine sinks: the logger's Elasticsearch/OpenSearch documents read back as
records and results, so ``inferwatch audit --store elasticsearch://…`` answers as it does for the embedded store.

A record is stored as one document per instance; ``search_docs`` reads them back into records and results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inferwatch import timestamps
from inferwatch.errors import SinkError
from inferwatch.records import InferenceRecord
from inferwatch.results import ResultRecord
from inferwatch.sinks.base import SinkURI
from inferwatch.sinks.search import SearchSink, SearchSinkConfig
from inferwatch.sinks.search_docs import record_from_documents, results_from_document
from inferwatch.sinks.sqlite import RecordQuery

_MAX_DOCS = 10_000
"""Documents read per search (the engines' default ``index.max_result_window``)."""


class SearchAuditStore:
    """Reads what a search sink wrote: ``query`` and ``results_for`` as on ``SQLiteSink``."""

    def __init__(self, uri: SinkURI) -> None:
        self.sink = SearchSink(SearchSinkConfig.from_uri(uri))
        self.description = f"{uri.scheme} {','.join(self.sink.config.hosts)} index {self.sink.index_pattern}"

    def query(self, q: RecordQuery) -> list[InferenceRecord]:
        """Records matching ``q``, newest first: the newest ``q.limit`` request ids, then all their documents."""
        hits = self._search(_filters(q), size=min(_MAX_DOCS, max(q.limit, 1) * 20))
        ids: list[str] = []
        for doc in hits:
            rid = doc.get("id")
            if isinstance(rid, str) and rid not in ids:
                ids.append(rid)
        ids = ids[: q.limit]
        if not ids:
            return []
        by_id: dict[str, list[dict[str, Any]]] = {rid: [] for rid in ids}
        for doc in self._search([{"terms": {"id": ids}}], size=_MAX_DOCS):
            if doc.get("id") in by_id:
                by_id[doc["id"]].append(doc)
        return [record_from_documents(docs) for docs in by_id.values() if docs]

    def results_for(self, request_ids: Sequence[str]) -> list[ResultRecord]:
        """The results merged into the documents of ``request_ids``, by request and item."""
        if not request_ids:
            return []
        out: list[ResultRecord] = []
        docs = self._search([{"terms": {"id": list(request_ids)}}], size=_MAX_DOCS, newest_first=False)
        for doc in docs:
            out.extend(results_from_document(doc))
        return out

    def close(self) -> None:
        self.sink.close()

    def _search(self, filters: list[dict[str, Any]], size: int, newest_first: bool = True) -> list[dict[str, Any]]:
        order = "desc" if newest_first else "asc"
        body = {
            "query": {"bool": {"filter": filters}},
            "sort": [{"received_at": {"order": order}}, {"id": {"order": "asc"}}, {"item": {"order": "asc"}}],
            "size": size,
        }
        try:
            self.sink.client.indices.refresh(index=self.sink.index_pattern, ignore_unavailable=True)
            resp = self.sink.client.search(index=self.sink.index_pattern, body=body, ignore_unavailable=True)
        except self.sink.engine.errors() as e:
            raise SinkError(f"{self.description}: search failed: {e}") from e
        return [h["_source"] for h in resp["hits"]["hits"] if isinstance(h.get("_source"), dict)]


def _filters(q: RecordQuery) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if q.request_id:
        out.append({"term": {"id": q.request_id}})
    if q.model:
        out.append({"term": {"model_name": q.model}})
    if q.since or q.until:
        bounds: dict[str, str] = {}
        if q.since:
            bounds["gte"] = timestamps.iso(q.since)
        if q.until:
            bounds["lt"] = timestamps.iso(q.until)
        out.append({"range": {"received_at": bounds}})
    if q.flag == "outlier":
        out.append({"term": {"outlier.data.is_outlier": 1}})
    elif q.flag:
        out.append({"term": {"flags": q.flag}})
    return out
