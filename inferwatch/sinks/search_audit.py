"""Audit search over the search-engine sinks: the logger's Elasticsearch/OpenSearch documents read back as
records and results, so ``inferwatch audit --store elasticsearch://…`` answers as it does for the embedded store.

A record is stored as one document per instance (``search_docs``); reading groups a request's documents back
into one ``InferenceRecord`` (envelope and bodies of its first document, one instance per document) and turns
the results merged into them (``outlier``, ``adversarial``, ``drift``, ``explanation``) into ``ResultRecord``\\ s.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from inferwatch import timestamps
from inferwatch.errors import SinkError
from inferwatch.records import InferenceRecord
from inferwatch.results import ResultKind, ResultRecord, result_id
from inferwatch.sinks.base import SinkURI
from inferwatch.sinks.search import SearchSink, SearchSinkConfig
from inferwatch.sinks.sqlite import RecordQuery

_RESULT_KINDS = tuple(k.value for k in ResultKind)
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
        return [_record(docs) for docs in by_id.values() if docs]

    def results_for(self, request_ids: Sequence[str]) -> list[ResultRecord]:
        """The results merged into the documents of ``request_ids``, by request and item."""
        if not request_ids:
            return []
        out: list[ResultRecord] = []
        docs = self._search([{"terms": {"id": list(request_ids)}}], size=_MAX_DOCS, newest_first=False)
        for doc in docs:
            out.extend(_results(doc))
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


def _record(docs: list[dict[str, Any]]) -> InferenceRecord:
    docs = sorted(docs, key=lambda d: d.get("item") or 0)
    first = dict(docs[0])
    for side in ("request", "response"):
        payload = first.get(side)
        first[side] = {k: v for k, v in payload.items() if k != "elements"} if isinstance(payload, dict) else None
    first["instances"] = [
        {side: (d.get(side) or {}).get("elements") for side in ("request", "response")}
        for d in docs
        if (d.get("request") or {}).get("elements") is not None or (d.get("response") or {}).get("elements") is not None
    ]
    return InferenceRecord.from_dict(first)


def _results(doc: dict[str, Any]) -> list[ResultRecord]:
    rid, item, items = doc.get("id"), doc.get("item"), doc.get("items")
    if not isinstance(rid, str):
        return []
    batch = isinstance(items, int) and items > 1
    out = []
    for kind in _RESULT_KINDS:
        stamped = doc.get(kind)
        if not isinstance(stamped, dict):
            continue
        body = {k: v for k, v in stamped.items() if k not in ("created_at", "source")}
        created = stamped.get("created_at")
        out.append(
            ResultRecord(
                result_id(kind, rid, item if batch else None),
                kind,
                body,
                rid,
                item if batch else None,
                items,
                timestamps.parse(created) if isinstance(created, str) else datetime.now(UTC),
                model_name=doc.get("model_name"),
                deployment=doc.get("deployment"),
                namespace=doc.get("namespace"),
                endpoint=doc.get("endpoint"),
                source=stamped.get("source"),
            )
        )
    return out
