"""What an Elasticsearch/OpenSearch refusal means for the records behind it (``inferwatch.sinks.failures``).

Per bulk item (a document of one record):

- 408, 409 (a version conflict between two writers), 429, 5xx and connection errors: ``RETRY``;
- refusals a person fixes: ``BLOCKED``, with what to do — ``read_only`` (a ``cluster_block_exception``: an
  index write / read-only / flood-stage ``read_only_allow_delete`` block), ``index_missing`` (auto-creation is
  off), ``auth`` (401/403), ``mapping`` (the index was not created from inferwatch's index template and its
  mapping refuses inferwatch's documents, or its total fields limit is reached);
- any other refusal of the document itself, e.g. a value its field's type rejects in an index that *was*
  created from inferwatch's template, or in one that took other documents of the same write: ``RECORD``.

And for the index template itself (``template_error``): another template with the same priority over the same
indices (``template_conflict``), or any other 4xx (``template``), blocks the sink with the options that get past
it: ``template_priority=`` (a higher one wins) and ``template=skip`` (write with the templates already there).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from inferwatch.errors import SinkError
from inferwatch.sinks.failures import Block, RecordFailure, Refusal, SinkBlocked

MAPPING_ERRORS = frozenset(
    {
        "mapper_parsing_exception",
        "document_parsing_exception",
        "strict_dynamic_mapping_exception",
        "illegal_argument_exception",
    }
)
_CONFLICT = re.compile(r"existing templates \[([^\]]*)\].*same priority \[(\d+)\]")
_BLOCKS = {
    "read-only-allow-delete": "index.blocks.read_only_allow_delete",
    "index write": "index.blocks.write",
    "index read-only": "index.blocks.read_only",
}


def status_of(e: BaseException) -> int | None:
    """The HTTP status an engine client error carries (``None``: no answer, e.g. a connection error)."""
    status = getattr(e, "status_code", None)
    if status is None:
        status = getattr(getattr(e, "meta", None), "status", None)
    return status if isinstance(status, int) and status > 0 else None


def retriable(status: int | None) -> bool:
    """Connection failures (no status), 408, 409, 429 and 5xx may pass on a later try; other 4xx will not."""
    return status is None or status in (408, 409, 429) or status >= 500


def item_failure(position: int, item: dict[str, Any], owned: Callable[[str], bool]) -> RecordFailure:
    """The failure of the record at ``position`` whose bulk ``item`` (the op's result) failed. ``owned(index)``:
    whether the index was created from inferwatch's template or took other documents of the same write."""
    status = item.get("status") if isinstance(item.get("status"), int) else None
    error = item.get("error")
    kind = error.get("type", "") if isinstance(error, dict) else ""
    reason = error.get("reason", "") if isinstance(error, dict) else str(error)
    index = str(item.get("_index", "?"))
    what = f"document {index}/{item.get('_id')}: {status} {kind}: {reason}"
    block = _block(status, kind, reason, index, owned)
    if block is not None:
        return RecordFailure(position, Refusal.BLOCKED, block.reason, what, block)
    if retriable(status):
        return RecordFailure(position, Refusal.RETRY, kind or "unavailable", what)
    return RecordFailure(position, Refusal.RECORD, "mapping" if kind in MAPPING_ERRORS else kind or "refused", what)


def _block(status: int | None, kind: str, reason: str, index: str, owned: Callable[[str], bool]) -> Block | None:
    if kind == "cluster_block_exception":
        setting = next((s for text, s in _BLOCKS.items() if text in reason), "index.blocks.write")
        remedy = f'PUT {index}/_settings {{"{setting}": null}}'
        if setting.endswith("read_only_allow_delete"):
            remedy = f"free disk space on the data nodes (flood-stage watermark), then {remedy}"
        return Block("read_only", f"index {index} refuses writes: {reason}", remedy)
    if kind == "index_not_found_exception":
        return Block(
            "index_missing",
            f"index {index} does not exist and the cluster does not create it: {reason}",
            f"create it (PUT {index}: inferwatch's template gives it its mapping) or let the cluster create it "
            f"(action.auto_create_index must allow {index})",
        )
    if status in (401, 403):
        return auth_block(reason, index)
    if kind in MAPPING_ERRORS and "total fields" in reason:
        return Block(
            "mapping",
            f"index {index} has reached its mapping's field limit: {reason}",
            f'raise it: PUT {index}/_settings {{"index.mapping.total_fields.limit": N}} (new indices: '
            "total_fields_limit= on the sink's URI)",
        )
    if kind in MAPPING_ERRORS and not owned(index):
        return Block(
            "mapping",
            f"index {index} refuses inferwatch's documents: {reason}",
            f"index {index} was not created from inferwatch's index template (made by hand, or another template "
            "with a higher priority matched it): reindex or delete it, raise template_priority=, or write to another "
            "index=",
        )
    return None


def auth_block(reason: str, target: str) -> Block:
    """401/403: the sink's user may not write (or install templates)."""
    return Block(
        "auth",
        f"the cluster refuses the sink's user on {target}: {reason}",
        f"grant the sink's user create_index, write and manage_index_templates on {target}, or fix its credentials "
        "(username/password, api_key)",
    )


def request_error(sink: str, e: BaseException, target: str) -> SinkError:
    """A whole bulk request failed: blocked on 401/403, else retriable by status (a 413 is not: the worker then
    writes the batch one record at a time)."""
    status = status_of(e)
    if status in (401, 403):
        return SinkBlocked(sink, auth_block(str(e), target))
    return SinkError(f"{sink}: bulk request failed: {e}", retriable=retriable(status))


def template_error(sink: str, e: BaseException, name: str, pattern: str) -> SinkError:
    """Installing index template ``name`` (for ``pattern``) failed: blocked on a refusal a person fixes."""
    status = status_of(e)
    if retriable(status):
        return SinkError(f"{sink}: installing index template {name!r} failed: {e}", retriable=True)
    if status in (401, 403):
        return SinkBlocked(sink, auth_block(str(e), pattern))
    conflict = _CONFLICT.search(str(e))
    if conflict is not None:
        others, priority = conflict.group(1), int(conflict.group(2))
        return SinkBlocked(
            sink,
            Block(
                "template_conflict",
                f"index template {name!r} cannot be installed: template(s) {others} already cover {pattern} at the "
                f"same priority {priority}",
                f"add template_priority={priority + 1} (or higher) to the sink's URI so inferwatch's template wins, "
                f"or template=skip to write with the existing template, or delete {others}",
            ),
        )
    return SinkBlocked(
        sink,
        Block(
            "template",
            f"index template {name!r} for {pattern} was refused: {e}",
            "correct the template options of the sink's URI (shards=, replicas=, total_fields_limit=, "
            "template_priority=), or template=skip to write with the templates already on the cluster",
        ),
    )


__all__ = ["auth_block", "item_failure", "request_error", "retriable", "status_of", "template_error"]
