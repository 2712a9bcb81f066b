"""The ``Sink`` protocol every destination of records implements.

A sink is driven by exactly one delivery worker thread (``inferwatch.delivery``), so implementations may
block; they raise ``inferwatch.errors.SinkError`` (``retriable=True`` when trying again may help).
``write`` must be idempotent per record id: retries and replays never duplicate a record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qs, urlsplit

from inferwatch.results import Record


@dataclass(frozen=True)
class SinkHealth:
    ok: bool
    detail: str = ""


@runtime_checkable
class Sink(Protocol):
    """Where records go: the embedded store, Kafka, Elasticsearch..."""

    name: str
    """Label used in metrics and logs (the URI scheme, made unique by the pipeline)."""

    def write(self, records: Sequence[Record]) -> None:
        """Store a batch durably, or raise ``SinkError``; idempotent per record id. Records are the logger's
        ``InferenceRecord``s and detector/explainer ``ResultRecord``s (``inferwatch.results``)."""
        ...

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def health(self) -> SinkHealth: ...


@dataclass(frozen=True)
class SinkURI:
    """A parsed sink URI: ``scheme://netloc/path?key=value``."""

    uri: str
    scheme: str
    netloc: str
    path: str
    options: dict[str, str]

    @classmethod
    def parse(cls, uri: str) -> SinkURI:
        parts = urlsplit(uri)
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return cls(uri, parts.scheme.lower(), parts.netloc, parts.path, options)
