"""The one JSON encoding: how inferwatch writes JSON wherever the bytes are a format (records and results in the
embedded store, spool frames, the write-ahead log, Kafka messages, search documents, CloudEvents bodies).

orjson with ``OPTIONS``: numpy arrays and scalars as JSON numbers/lists, non-string dict keys as strings, and
``default`` for the rest: datetimes in the one stored form (``inferwatch.timestamps.iso``), bytes as base64
(the raw elements of a binary V2 BYTES tensor). Anything else is refused with ``TypeError`` rather than
written as its ``repr``: a value that cannot be read back is a bug to see, not text to store.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import orjson

from inferwatch import timestamps

OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
"""orjson options of every stored or sent JSON document (datetimes pass through to ``default``)."""


def default(value: Any) -> str:
    """orjson ``default``: datetimes as ``timestamps.iso``, bytes as base64; ``TypeError`` for anything else."""
    if isinstance(value, datetime):
        return timestamps.iso(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(obj: Any) -> bytes:
    """``obj`` as JSON bytes (dataclasses included: orjson writes their fields in declaration order)."""
    return orjson.dumps(obj, default=default, option=OPTIONS)
