"""Search-engine documents for a record, and the index template that maps them.

**Documents** (one per instance, as Seldon's request logger writes them). A record with at most one
instance is one document, ``_id`` = request id; a batch of n instances is n documents
``<id>-item-<i>``. Each carries the record's envelope (``id``, times, model, deployment, namespace,
endpoint, protocol, status, flags, tags, error), ``item``/``items``, Seldon's top-level fields
(``@timestamp``, ``RequestId``, ``ServingEngine``, ``Ce-Modelid``, ``Ce-Inferenceservicename``,
``Ce-Namespace``, ``Ce-Endpoint``), and ``request``/``response`` with the payload metadata plus
``elements``: that instance's row (``{feature: value}``, Seldon's ``request.elements``). The full bodies
(``raw``, ``decoded``) go into every document (``bodies=all``), the first one only (``first``, default:
a batch does not store its body n times) or none.

**Mapping explosion guard.** Feature and output names are user data: ``elements`` and ``tags`` use the
engine's flattened type (Elasticsearch ``flattened``, OpenSearch ``flat_object``; both exist in the
dev-stack builds), one field however many keys, values searchable as keywords
(``request.elements.petal_length: 1.4``; ranges compare as strings). A keyword term is at most 32766
bytes, so string values in flattened fields are cut to ``MAX_FLAT_CHARS`` characters in the document (the
whole value stays in the body). ``decoded`` is kept in ``_source``
but not indexed (``enabled: false``), ``raw`` is stored only, and the root is ``dynamic: false``: fields
this module does not name are kept but never mapped. ``index.mapping.total_fields.limit`` is a backstop.

**Results** (``inferwatch.results.ResultRecord``) are merged into the logged request's document as the field
named by their kind (``outlier``, ``adversarial``, ``drift`` for online detectors, ``explanation``): alibi's
``{data, meta}`` plus ``created_at`` and ``source``. Only a few keys of them are mapped
(``outlier.data.is_outlier``, ``explanation.meta.name``... see ``RESULT_FIELDS``); the rest is kept in
``_source`` only, so detector outputs and explanations cannot explode the mapping either. ``result_upsert``
is the document a result creates when it arrives before its record (envelope + the result, no ``received_at``).
Results with no request (drift windows) are documents of their own in a drift index (``drift_template_body``).

**Reading back** (``inferwatch.stores.search``): ``record_from_documents`` groups a request's documents into the
``InferenceRecord`` they were written from, ``results_from_document`` turns the results merged into a document
back into ``ResultRecord``\\ s: the inverse of ``documents`` and ``result_fields``, declared next to them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from inferwatch import timestamps
from inferwatch.records import InferenceRecord
from inferwatch.results import ResultKind, ResultRecord, result_id
from inferwatch.sinks.naming import serving_engine

BODIES = ("all", "first", "none")
_BODY_FIELDS = ("raw", "decoded")
_INSTANCES = "instances"
_SIDES = ("request", "response")
ELEMENTS = "elements"
"""Key of a side's per-instance row (``request.elements``, Seldon's name)."""
_RESULT_KINDS = tuple(k.value for k in ResultKind)
RECORD_FIELD = "received_at"
"""Carried by every document a record wrote; a result's upsert document (its record not indexed yet) has none."""
MAX_FLAT_CHARS = 8191
"""Longest string kept in a flattened field: 8191 characters are at most 32764 UTF-8 bytes."""

KEYWORD = {"type": "keyword"}
_SIDE_FIELDS: dict[str, Any] = {
    "content_type": KEYWORD,
    "size": {"type": "long"},
    "raw": {"type": "text", "index": False},
    "raw_encoding": KEYWORD,
    "truncated": {"type": "boolean"},
    "protocol": KEYWORD,
    "decoded": {"type": "object", "enabled": False},
    "parse_error": {"type": "text"},
    "sha256": KEYWORD,  # set on a record reduced or shed to fit (inferwatch.reduction): find it by its body
}
_ENVELOPE: dict[str, Any] = {
    "@timestamp": {"type": "date"},
    "id": KEYWORD,
    "item": {"type": "integer"},
    "items": {"type": "integer"},
    "received_at": {"type": "date"},
    "responded_at": {"type": "date"},
    "latency_ms": {"type": "float"},
    "model_name": KEYWORD,
    "model_version": KEYWORD,
    "deployment": KEYWORD,
    "namespace": KEYWORD,
    "endpoint": KEYWORD,
    "protocol": KEYWORD,
    "source": KEYWORD,
    "method": KEYWORD,
    "path": {"type": "keyword", "ignore_above": 1024},
    "status_code": {"type": "integer"},
    "feature_names": {"type": "keyword", "ignore_above": 256},
    "flags": KEYWORD,
    "error": {"type": "text"},
    # Seldon request logger's names, so its Kibana searches keep working
    "RequestId": KEYWORD,
    "ServingEngine": KEYWORD,
    "Ce-Modelid": KEYWORD,
    "Ce-Inferenceservicename": KEYWORD,
    "Ce-Namespace": KEYWORD,
    "Ce-Endpoint": KEYWORD,
}


_SCORE = {"type": "float", "ignore_malformed": True}
_FLAG = {"type": "integer", "ignore_malformed": True}
_STAMP: dict[str, Any] = {"created_at": {"type": "date"}, "source": KEYWORD}
"""What ``ResultRecord.stamped_body`` adds to a result's body."""
_META = {"properties": {"name": KEYWORD, "detector_type": KEYWORD, "version": KEYWORD}}


def _result(data: dict[str, Any]) -> dict[str, Any]:
    return {"properties": {"data": {"properties": data}, "meta": _META, **_STAMP}}


RESULT_FIELDS: dict[str, Any] = {
    "outlier": _result({"is_outlier": _FLAG, "instance_score": _SCORE}),
    "adversarial": _result({"is_adversarial": _FLAG, "instance_score": _SCORE}),
    "drift": _result(
        {
            "is_drift": _FLAG,
            "p_val": _SCORE,
            "threshold": _SCORE,
            "distance": _SCORE,
            "window_size": _FLAG,
            "trigger": KEYWORD,
        }
    ),
    "explanation": {
        "properties": {
            "meta": {"properties": {"name": KEYWORD, "type": KEYWORD}},
            "data": {"type": "object", "enabled": False},
            **_STAMP,
        }
    },
}
"""Mapped keys of merged results; every other key stays unmapped (``dynamic: false``)."""


def template_body(flat_type: str, *, shards: int = 1, replicas: int = 0, total_fields: int = 500) -> dict[str, Any]:
    """``template`` of a composable index template: settings and explicit mappings (see module doc)."""
    flat = {"type": flat_type}
    side = {"properties": {**_SIDE_FIELDS, "elements": flat}}
    return {
        "settings": {
            "number_of_shards": shards,
            "number_of_replicas": replicas,
            "index.mapping.total_fields.limit": total_fields,
            "index.mapping.depth.limit": 5,
        },
        "mappings": {
            "dynamic": False,
            "_meta": {"created_by": "inferwatch", "schema": 1},
            "properties": {**_ENVELOPE, "tags": flat, "request": side, "response": side, **RESULT_FIELDS},
        },
    }


def drift_template_body(*, shards: int = 1, replicas: int = 0, total_fields: int = 500) -> dict[str, Any]:
    """The drift index: one document per result that belongs to no request (a closed drift window)."""
    envelope = {k: _ENVELOPE[k] for k in ("@timestamp", "id", "model_name", "deployment", "namespace", "endpoint")}
    return {
        "settings": {
            "number_of_shards": shards,
            "number_of_replicas": replicas,
            "index.mapping.total_fields.limit": total_fields,
            "index.mapping.depth.limit": 5,
        },
        "mappings": {
            "dynamic": False,
            "_meta": {"created_by": "inferwatch", "schema": 1},
            "properties": {
                **envelope,
                "kind": KEYWORD,
                "source": KEYWORD,
                "created_at": {"type": "date"},
                **RESULT_FIELDS,
            },
        },
    }


def result_fields(result: ResultRecord) -> dict[str, Any]:
    """The partial document a result merges into its request's document: ``{kind: body+stamp}``."""
    return {result.kind: result.stamped_body()}


def result_upsert(result: ResultRecord) -> dict[str, Any]:
    """The document a result creates when its request's record is not indexed yet: the envelope the record
    would give (so the document is found by id, time and model meanwhile) plus the result. The record's own
    write later merges over the envelope and keeps the result."""
    created = timestamps.iso(result.created_at)
    doc: dict[str, Any] = {
        "id": result.request_id,
        "RequestId": result.request_id,
        "@timestamp": created,
        "item": result.item or 0,
        "items": result.items or 0,
        "ServingEngine": serving_engine(result),
        "model_name": result.model_name,
        "deployment": result.deployment,
        "namespace": result.namespace,
        "endpoint": result.endpoint,
        "Ce-Modelid": result.model_name,
        "Ce-Inferenceservicename": result.deployment or result.model_name,
        "Ce-Namespace": result.namespace,
        "Ce-Endpoint": result.endpoint,
    }
    return {**{k: v for k, v in doc.items() if v is not None}, **result_fields(result)}


def result_document(result: ResultRecord) -> dict[str, Any]:
    """A document of the drift index (a result with no request): envelope, kind and the result."""
    created = timestamps.iso(result.created_at)
    doc = {
        "@timestamp": created,
        "created_at": created,
        "id": result.id,
        "kind": result.kind,
        "source": result.source,
        "model_name": result.model_name,
        "deployment": result.deployment,
        "namespace": result.namespace,
        "endpoint": result.endpoint,
    }
    return {**{k: v for k, v in doc.items() if v is not None}, **result_fields(result)}


def documents(record: InferenceRecord, bodies: str = "first") -> Iterator[tuple[str, dict[str, Any]]]:
    """``(_id, _source)`` for each document of ``record`` (see module doc)."""
    base = record.to_dict()
    rows: list[dict[str, Any]] = base.pop(_INSTANCES) or []
    sides = {s: base.pop(s) for s in _SIDES}
    base.update(_seldon_fields(record, base))
    base["tags"] = clip(base.get("tags"))
    n = len(rows)
    for i in range(max(n, 1)):
        doc = dict(base, item=i, items=n)
        row = rows[i] if n else {}
        keep_bodies = bodies == "all" or (bodies == "first" and i == 0)
        for side, payload in sides.items():
            doc[side] = _side(payload, (row or {}).get(side), keep_bodies)
        yield (record.id if n <= 1 else f"{record.id}-item-{i}"), doc


def _side(payload: dict[str, Any] | None, elements: Any, keep_bodies: bool) -> dict[str, Any] | None:
    if payload is None and elements is None:
        return None
    out = dict(payload or {})
    if not keep_bodies:
        for k in _BODY_FIELDS:
            out.pop(k, None)
    if elements is not None:
        out[ELEMENTS] = clip(elements)
    return out


def clip(value: Any) -> Any:
    """``value`` with every string longer than ``MAX_FLAT_CHARS`` cut to that length."""
    if isinstance(value, str):
        return value[:MAX_FLAT_CHARS]
    if isinstance(value, dict):
        return {k: clip(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clip(v) for v in value]
    return value


def _seldon_fields(record: InferenceRecord, base: dict[str, Any]) -> dict[str, Any]:
    fields = {
        "@timestamp": base["received_at"],
        "RequestId": record.id,
        "ServingEngine": serving_engine(record),
        "Ce-Modelid": record.model_name,
        "Ce-Inferenceservicename": record.deployment or record.model_name,
        "Ce-Namespace": record.namespace,
        "Ce-Endpoint": record.endpoint,
    }
    return {k: v for k, v in fields.items() if v is not None}


# --- reading documents back -----------------------------------------------------------------------------------


def record_from_documents(docs: Sequence[dict[str, Any]]) -> InferenceRecord:
    """The record ``documents`` wrote as ``docs`` (every document of one request id that has ``RECORD_FIELD``, any
    order): envelope and side metadata of the first instance's document, bodies where that one kept them, and one
    instance per document that carries ``elements`` (strings as ``clip`` stored them)."""
    docs = sorted(docs, key=lambda d: d.get("item") or 0)
    first = dict(docs[0])
    for side in _SIDES:
        payload = first.get(side)
        first[side] = {k: v for k, v in payload.items() if k != ELEMENTS} if isinstance(payload, dict) else None
    rows = [{side: (d.get(side) or {}).get(ELEMENTS) for side in _SIDES} for d in docs]
    first[_INSTANCES] = [row for row in rows if any(v is not None for v in row.values())]
    return InferenceRecord.from_dict(first)


def results_from_document(doc: dict[str, Any]) -> list[ResultRecord]:
    """The results merged into a request's document (``result_fields``, ``result_upsert``), one per kind, with
    the ids, item and envelope they were written with."""
    rid, item, items = doc.get("id"), doc.get("item"), doc.get("items")
    if not isinstance(rid, str):
        return []
    item = item if isinstance(items, int) and items > 1 else None
    out = []
    for kind in _RESULT_KINDS:
        stamped = doc.get(kind)
        if not isinstance(stamped, dict):
            continue
        created = stamped.get("created_at")
        out.append(
            ResultRecord(
                result_id(kind, rid, item),
                kind,
                {k: v for k, v in stamped.items() if k not in _STAMP},
                rid,
                item,
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
