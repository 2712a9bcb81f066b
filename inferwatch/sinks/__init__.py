"""Sinks chosen from a table by URI scheme: ``open_sink("sqlite:///tmp/x.db")``.

Adding a sink is one module with a class that has ``from_uri(SinkURI)`` and one row in ``SINKS``; a sink with
query options declares them once in an ``OptionTable`` (``inferwatch.sinks.options``) listed in ``OPTION_TABLES``.
"""

from __future__ import annotations

import importlib
from typing import Any

from inferwatch.errors import ConfigError
from inferwatch.sinks.base import Sink, SinkHealth, SinkURI
from inferwatch.sinks.kafka_options import KafkaOptions
from inferwatch.sinks.options import OptionTable
from inferwatch.sinks.search_options import SearchOptions

SINKS: dict[str, str] = {
    "sqlite": "inferwatch.sinks.sqlite:SQLiteSink",
    "kafka": "inferwatch.sinks.kafka:KafkaSink",
    "elasticsearch": "inferwatch.sinks.search:SearchSink",
    "opensearch": "inferwatch.sinks.search:SearchSink",
    "cloudevents+http": "inferwatch.sinks.cloudevents:CloudEventsSink",
    "cloudevents+https": "inferwatch.sinks.cloudevents:CloudEventsSink",
}

OPTION_TABLES: tuple[type[OptionTable], ...] = (KafkaOptions, SearchOptions)
"""The option tables of the sinks that take query options, in the order ``options_help`` lists them."""

__all__ = ["OPTION_TABLES", "SINKS", "Sink", "SinkHealth", "SinkURI", "open_sink", "options_help"]


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


def options_help(indent: str = "  ") -> str:
    """Every sink's query options, one line each, generated from ``OPTION_TABLES`` (``inferwatch logger --help``)."""
    lines: list[str] = []
    for table in OPTION_TABLES:
        lines.append(f"{indent}{table.usage}?OPTION=VALUE&...")
        lines.extend(f"{indent}    {line}" for line in table.help_lines())
    return "".join(line + "\n" for line in lines)
