"""The one timestamp rule: every time inferwatch stores, sends or compares is UTC.

Stored form (records, results, SQLite columns, search documents, Kafka messages): ISO-8601 in UTC with
microseconds and ``Z`` (``2026-11-25T10:00:00.000000Z``), so text comparison orders by time. Parsing accepts any
ISO-8601 form; a time without an offset means UTC (never the machine's local time), on the way in and out.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso(t: datetime) -> str:
    """``t`` as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC (a naive ``t`` is taken as UTC)."""
    return utc(t).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse(value: str | datetime) -> datetime:
    """An aware UTC-or-offset ``datetime`` from ISO-8601 text (``Z``, an offset, or none: UTC); a ``datetime``
    passes through (a naive one taken as UTC). ``ValueError`` for text that is not ISO-8601."""
    t = value if isinstance(value, datetime) else datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def from_epoch(seconds: float) -> datetime:
    """The UTC ``datetime`` of a ``time.time()`` value (what the capture path records)."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def utc(t: datetime) -> datetime:
    """``t`` in UTC; a naive ``t`` is taken as UTC."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def compact(t: datetime) -> str:
    """``YYYYMMDDTHHMMSS.ffffffZ`` in UTC: a timestamp that fits in an id (drift window ids)."""
    return utc(t).strftime("%Y%m%dT%H%M%S.%fZ")
