"""Sinks chosen from a table by URI scheme: ``open_sink("sqlite:///tmp/x.db")``.

Adding a sink is one module with a class that has ``from_uri(SinkURI)`` and one row in ``SINKS``.
"""

from __future__ import annotations

import importlib
from typing import Any

from inferwatch.errors import ConfigError
from inferwatch.sinks.base import Sink, SinkHealth, SinkURI

SINKS: dict[str, str] = {
    "sqlite": "inferwatch.sinks.sqlite:SQLiteSink",
    "kafka": "inferwatch.sinks.kafka:KafkaSink",
    "elasticsearch": "inferwatch.sinks.search:SearchSink",
    "opensearch": "inferwatch.sinks.search:SearchSink",
    "cloudevents+http": "inferwatch.sinks.cloudevents:CloudEventsSink",
    "cloudevents+https": "inferwatch.sinks.cloudevents:CloudEventsSink",
}

__all__ = ["SINKS", "Sink", "SinkHealth", "SinkURI", "open_sink"]


def open_sink(uri: str) -> Sink:
    """Open the sink a URI names; a clear ``ConfigError`` for an unknown scheme or missing extra."""
    parsed = SinkURI.parse(uri)
    target = SINKS.get(parsed.scheme)
    if target is None:
        known = ", ".join(f"{s}://" for s in sorted(SINKS))
        raise ConfigError(f"unknown sink {uri!r}: supported schemes are {known}")
    module, _, cls_name = target.partition(":")
    try:
        cls: Any = getattr(importlib.import_module(module), cls_name)
    except ImportError as e:
        raise ConfigError(
            f"sink {parsed.scheme}:// needs an optional dependency ({e.name}): "
            f"pip install 'inferwatch[{parsed.scheme}]'"
        ) from e
    sink: Sink = cls.from_uri(parsed)
    return sink
