"""What an Elasticsearch/OpenSearch refusal means for the records behind it (the item shapes are the engines' own,
as the dev-stack nodes answer them; the blocked cases also run against them in test_search_sink.py)."""

from __future__ import annotations

from typing import Any

import pytest

from inferwatch.errors import SinkError
from inferwatch.sinks.failures import Refusal, SinkBlocked
from inferwatch.sinks.search_refusals import item_failure, request_error, template_error


def _item(status: int | str, kind: str, reason: str, index: str = "logs-a") -> dict[str, Any]:
    return {"_index": index, "_id": "r1", "status": status, "error": {"type": kind, "reason": reason}}


@pytest.mark.parametrize(
    ("item", "owned", "refusal", "reason", "remedy"),
    [
        (_item(429, "es_rejected_execution_exception", "queue full"), True, Refusal.RETRY, "", ""),
        (_item(503, "unavailable_shards_exception", "primary not active"), True, Refusal.RETRY, "", ""),
        (_item("N/A", "ConnectionError", "refused"), True, Refusal.RETRY, "", ""),
        (
            _item(
                429, "cluster_block_exception", "blocked by: [TOO_MANY_REQUESTS/12/... read-only-allow-delete block]"
            ),
            True,
            Refusal.BLOCKED,
            "read_only",
            'then PUT logs-a/_settings {"index.blocks.read_only_allow_delete": null}',
        ),
        (
            _item(403, "cluster_block_exception", "blocked by: [FORBIDDEN/8/index write (api)];"),
            True,
            Refusal.BLOCKED,
            "read_only",
            'PUT logs-a/_settings {"index.blocks.write": null}',
        ),
        (
            _item(404, "index_not_found_exception", "no such index"),
            True,
            Refusal.BLOCKED,
            "index_missing",
            "PUT logs-a",
        ),
        (
            _item(403, "security_exception", "action [indices:data/write/bulk] is unauthorized"),
            True,
            Refusal.BLOCKED,
            "auth",
            "grant",
        ),
        (
            _item(400, "document_parsing_exception", "failed to parse field [latency_ms]"),
            True,
            Refusal.RECORD,
            "mapping",
            "",
        ),
        (
            _item(400, "document_parsing_exception", "failed to parse field [request] of type [text]"),
            False,
            Refusal.BLOCKED,
            "mapping",
            "was not created from inferwatch's index template",
        ),
        (
            _item(400, "illegal_argument_exception", "Limit of total fields [500] has been exceeded"),
            True,
            Refusal.BLOCKED,
            "mapping",
            "index.mapping.total_fields.limit",
        ),
        (
            _item(400, "action_request_validation_exception", "id is too long"),
            True,
            Refusal.RECORD,
            "action_request_validation_exception",
            "",
        ),
    ],
)
def test_item_refusals(item: dict[str, Any], owned: bool, refusal: Refusal, reason: str, remedy: str) -> None:
    failure = item_failure(3, item, lambda index: owned)
    assert (failure.position, failure.refusal) == (3, refusal)
    if reason:
        assert failure.reason == reason
    if refusal is Refusal.BLOCKED:
        assert failure.block is not None and remedy in failure.block.remedy, failure.block


class _ApiError(Exception):
    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status_code = status


def test_template_conflict_names_the_other_templates_and_the_options_that_get_past_them() -> None:
    message = (
        "index template [inferwatch-logs] has index patterns [logs-*] matching patterns from existing templates "
        "[other-tool] with patterns (other-tool => [logs-*]) that have the same priority [100], multiple index "
        "templates may not match during index creation, please use a different priority"
    )
    err = template_error("es", _ApiError(400, message), "inferwatch-logs", "logs-*")
    assert isinstance(err, SinkBlocked) and err.block.reason == "template_conflict"
    assert "other-tool" in err.block.message and "template_priority=101" in err.block.remedy
    assert "template=skip" in err.block.remedy
    other = template_error("es", _ApiError(400, "unknown setting [index.foo]"), "inferwatch-logs", "logs-*")
    assert isinstance(other, SinkBlocked) and other.block.reason == "template"
    assert isinstance(template_error("es", _ApiError(401, "no"), "t", "logs-*"), SinkBlocked)
    down = template_error("es", _ApiError(None, "connection refused"), "t", "logs-*")
    assert type(down) is SinkError and down.retriable


def test_whole_request_errors() -> None:
    assert isinstance(request_error("es", _ApiError(401, "unauthorized"), "logs-*"), SinkBlocked)
    assert request_error("es", _ApiError(None, "connection reset"), "logs-*").retriable
    assert not request_error("es", _ApiError(413, "request entity too large"), "logs-*").retriable
