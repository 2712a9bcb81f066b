"""Fast JSON of a record for the network sinks: the bytes of ``orjson.dumps(record.to_dict())``, ~10x faster.

``InferenceRecord.to_dict`` goes through ``dataclasses.asdict``, which deep-copies every decoded tensor
and instance row (~150-200 µs for a small iris record); orjson serialises the dataclasses directly
(~15 µs). Timestamps use the same ISO-8601 UTC ``...ssssssZ`` form as ``to_dict``; the sink tests assert
byte equality with ``orjson.dumps(record.to_dict())`` so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from inferwatch.records import InferenceRecord


def _default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def record_json(record: InferenceRecord) -> bytes:
    """``orjson.dumps(record.to_dict())``, computed without the deep copy."""
    return orjson.dumps(record, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def record_dict(record: InferenceRecord) -> dict[str, Any]:
    """A fresh ``record.to_dict()`` (decoded from ``record_json``; still several times faster)."""
    out: dict[str, Any] = orjson.loads(record_json(record))
    return out
