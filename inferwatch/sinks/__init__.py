"""Sinks chosen from a table by URI scheme: ``open_sink("sqlite:///tmp/x.db")``.

Adding a sink is one module with a class that has ``from_uri(SinkURI)`` and one row in ``SINKS``; a sink with
query options declares them once in an ``OptionTable`` (``inferwatch.sinks.options``) listed in ``OPTION_TABLES``.
"""

from __future__ import annotations

from inferwatch.sinks.base import Sink, SinkHealth, SinkURI, scheme_class
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
    sink: Sink = scheme_class(SINKS, parsed, "unknown sink", "sink").from_uri(parsed)
    return sink


def options_help(indent: str = "  ") -> str:
    """Every sink's query options, one line each, generated from ``OPTION_TABLES`` (``inferwatch logger --help``)."""
    lines: list[str] = []
    for table in OPTION_TABLES:
        lines.append(f"{indent}{table.usage}?OPTION=VALUE&...")
        lines.extend(f"{indent}    {line}" for line in table.help_lines())
    return "".join(line + "\n" for line in lines)
