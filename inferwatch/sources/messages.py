"""A Kafka message as the consumers read it, independent of the client library that fetched it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Message:
    """One consumed message: where it was, what it holds. ``timestamp`` is in seconds (``None``: the broker gave
    none); header names are kept as sent (Kafka's are case-sensitive), ``header`` looks one up case-insensitively."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp: float | None = None
    _index: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name, value in self.headers:  # the last one wins, as in most clients' header maps
            self._index[name.lower()] = value

    @classmethod
    def from_kafka(cls, record: Any) -> Message:
        """From a kafka-python ``ConsumerRecord`` (headers ``[(str, bytes)]``, timestamp in milliseconds)."""
        ts = getattr(record, "timestamp", None)
        headers = tuple((str(k), bytes(v or b"")) for k, v in (getattr(record, "headers", None) or ()))
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            value=record.value,
            key=getattr(record, "key", None),
            headers=headers,
            timestamp=ts / 1000.0 if isinstance(ts, int | float) and ts >= 0 else None,
        )

    def header(self, name: str) -> str | None:
        """A header's value as text (``None`` if absent; bytes that are not UTF-8 are replaced)."""
        value = self._index.get(name.lower())
        return None if value is None else value.decode("utf-8", "replace")

    @property
    def position(self) -> str:
        """``topic/partition/offset``: the same for a message delivered again."""
        return f"{self.topic}/{self.partition}/{self.offset}"
