"""Search documents read back: ``record_from_documents`` and ``results_from_document`` undo ``documents`` and
``result_fields`` for every captured peer exchange, whichever bodies the sink kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from inferwatch import jsonenc
from inferwatch.results import ResultRecord, per_request
from inferwatch.sinks.search_docs import (
    BODIES,
    RECORD_FIELD,
    documents,
    record_from_documents,
    result_fields,
    result_upsert,
    results_from_document,
)
from tests.inferwatch.sinks.sink_records import PEERS, golden

NAMES = [e["name"] for e in json.loads((PEERS / "index.json").read_text())]
T = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
ENVELOPE: dict[str, Any] = {"model_name": "iris", "namespace": "prod", "deployment": "iris", "endpoint": "default"}


def _stored(doc: dict[str, Any]) -> dict[str, Any]:
    """A document as the engine returns its ``_source``."""
    out: dict[str, Any] = orjson.loads(jsonenc.dumps(doc))
    return out


@pytest.mark.parametrize("bodies", BODIES)
@pytest.mark.parametrize("name", NAMES)
def test_a_records_documents_read_back_as_the_record(name: str, bodies: str) -> None:
    record = golden(name, tags={"ce_type": "io.seldon.serving.inference.request"})
    docs = [_stored(doc) for _, doc in documents(record, bodies)]
    assert all(RECORD_FIELD in d for d in docs)
    back = record_from_documents(list(reversed(docs)))  # the engine's order does not matter
    if bodies == "none":  # the bodies were not stored: everything else was
        for side in (record.request, record.response):
            if side is not None:
                side.raw, side.decoded = "", None
    assert back == record


def test_merged_results_read_back_with_their_ids_and_envelope() -> None:
    record = golden("seldon_ndarray", request_id="b-1", **{k: v for k, v in ENVELOPE.items() if k != "model_name"})
    record.model_name = "iris"  # the envelope read back is the record's (its document's)
    body = {"data": {"is_outlier": [0, 1], "instance_score": [0.1, 0.9]}, "meta": {"name": "IForest"}}
    results = per_request("outlier", body, "b-1", 2, created_at=T, source="iris-od", **ENVELOPE)
    docs = {doc_id: doc for doc_id, doc in documents(record)}
    for r in results:
        docs[str(r.document_id)].update(result_fields(r))
    back = [res for doc in docs.values() for res in results_from_document(_stored(doc))]
    assert [_key(r) for r in back] == [_key(r) for r in results]


def test_a_result_that_came_first_is_a_document_without_a_record() -> None:
    explanation = per_request("explanation", {"data": {"anchor": ["x"]}}, "e-1", 1, created_at=T, **ENVELOPE)[0]
    doc = _stored(result_upsert(explanation))
    assert RECORD_FIELD not in doc
    assert [_key(r) for r in results_from_document(doc)] == [_key(explanation)]


def _key(r: ResultRecord) -> tuple[Any, ...]:
    return (r.id, r.kind, r.body, r.request_id, r.item, r.items, r.created_at, r.model_name, r.namespace, r.source)
