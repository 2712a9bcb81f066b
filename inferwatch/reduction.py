"""Smaller forms of a record, for a sink that cannot write it whole; the delivery worker walks them.

A sink can refuse a record for what it carries rather than for where it goes: a decoded body nested deeper than
the JSON encoder allows (``TypeError: Recursion limit reached``), a message larger than the Kafka topic takes, a
value the index mapping refuses. Rather than fail its batch, the worker writes it again in the next of these
forms (``smaller``), and drops it — alone, counted — only once the last one is refused too:

1. **reduced** (``Flag.REDUCED``): what was derived from the bodies is left out — each side's ``decoded``, the
   per-instance rows (``instances``) and ``feature_names``. The raw bodies stay, so nothing that crossed the
   wire is lost: the record can be decoded again from ``raw``. Each side gains ``sha256``.
2. **shed** (``Flag.SHED``, added to ``reduced``): the raw bodies are left out too (``raw`` is empty); each side
   keeps ``content_type``, ``size`` (the body's length on the wire), ``truncated``, ``protocol`` and the
   ``sha256`` of the body, so the exchange can still be matched with a copy kept elsewhere.

A ``ResultRecord`` has no raw body: its one smaller form keeps the scalar values (flags, scores, names, strings
up to ``MAX_TEXT`` characters) of its body's ``data`` and ``meta`` and marks the body ``"reduced": true``.
Records are never changed in place: every form is a new record.
"""

from __future__ import annotations

import base64
import hashlib
import numbers
from dataclasses import replace
from typing import Any

from inferwatch.records import Flag, InferenceRecord, PayloadRecord
from inferwatch.results import Record, ResultRecord

MAX_TEXT = 1024
"""Longest string value a reduced result body keeps."""
REDUCED_KEY = "reduced"
"""Key a reduced result's body carries (``true``)."""


def smaller(record: Record) -> tuple[Record, Flag] | None:
    """The next smaller form of ``record`` and the flag naming it, or ``None`` when it is as small as it gets."""
    if isinstance(record, ResultRecord):
        return None if is_reduced(record) else (_reduced_result(record), Flag.REDUCED)
    if record.has(Flag.SHED):
        return None
    if record.has(Flag.REDUCED):
        return _shed(record), Flag.SHED
    return _reduced(record), Flag.REDUCED


def is_reduced(record: Record) -> bool:
    """Whether ``record`` is a smaller form already (not as its producer made it)."""
    if isinstance(record, ResultRecord):
        return record.body.get(REDUCED_KEY) is True
    return record.has(Flag.REDUCED)


def body_sha256(payload: PayloadRecord) -> str:
    """Hex SHA-256 of the body ``payload.raw`` holds (base64 decoded first when ``raw_encoding`` says so)."""
    if payload.sha256 is not None:
        return payload.sha256
    raw = base64.b64decode(payload.raw) if payload.raw_encoding == "base64" else payload.raw.encode()
    return hashlib.sha256(raw).hexdigest()


def _reduced(record: InferenceRecord) -> InferenceRecord:
    return replace(
        record,
        request=_side(record.request, keep_raw=True),
        response=_side(record.response, keep_raw=True),
        instances=[],
        feature_names=None,
        tags=dict(record.tags),
        flags=[*record.flags, Flag.REDUCED.value],
    )


def _shed(record: InferenceRecord) -> InferenceRecord:
    return replace(
        record,
        request=_side(record.request, keep_raw=False),
        response=_side(record.response, keep_raw=False),
        tags=dict(record.tags),
        flags=[*record.flags, Flag.SHED.value],
    )


def _side(payload: PayloadRecord | None, keep_raw: bool) -> PayloadRecord | None:
    if payload is None:
        return None
    return replace(payload, decoded=None, raw=payload.raw if keep_raw else "", sha256=body_sha256(payload))


def _reduced_result(record: ResultRecord) -> ResultRecord:
    body: dict[str, Any] = {
        k: _scalars(record.body[k]) for k in ("data", "meta") if isinstance(record.body.get(k), dict)
    }
    body[REDUCED_KEY] = True
    return replace(record, body=body, tags=dict(record.tags))


def _scalars(values: dict[Any, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if isinstance(k, str) and _scalar(v)}


def _scalar(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_TEXT
    return value is None or isinstance(value, bool | numbers.Real)
