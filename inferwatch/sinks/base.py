"""The ``Sink`` protocol every destination of records implements.

A sink is driven by exactly one delivery worker thread (``inferwatch.delivery``), so implementations may
block; they raise ``inferwatch.errors.SinkError`` (``retriable=True`` when trying again may help), and say more
where they can (``inferwatch.sinks.failures``): ``RecordsRejected`` names the records of a batch that were not
written — so one record never fails its neighbours — and ``SinkBlocked`` a refusal a person has to fix.
``write`` must be idempotent per record id: retries and replays never duplicate a record.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, urlsplit

from inferwatch.errors import ConfigError
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
        """Store a batch durably, or raise ``SinkError`` — ``RecordsRejected`` when only some records were not
        written; idempotent per record id. Records are the logger's ``InferenceRecord``s and detector/explainer
        ``ResultRecord``s (``inferwatch.results``)."""
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


def scheme_class(table: Mapping[str, str], uri: SinkURI, unknown: str, what: str) -> Any:
    """The class ``table`` names for ``uri``'s scheme (``"module:Class"``, imported on first use, so an extra is
    needed only where its scheme is used). ``ConfigError`` for a scheme the table lacks (``unknown`` leads the
    message) or a missing extra (``what`` names the thing that needs it, e.g. ``sink``)."""
    target = table.get(uri.scheme)
    if target is None:
        known = ", ".join(f"{s}://" for s in table)
        raise ConfigError(f"{unknown} {uri.uri!r}: supported schemes are {known}")
    module, _, cls_name = target.partition(":")
    try:
        return getattr(importlib.import_module(module), cls_name)
    except ImportError as e:
        raise ConfigError(
            f"{what} {uri.scheme}:// needs an optional dependency ({e.name}): pip install 'inferwatch[{uri.scheme}]'"
        ) from e
