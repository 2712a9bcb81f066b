"""Topic and index names rendered from a template and a record, made legal for their destination.

A template names parts in braces: ``{engine}``, ``{namespace}``, ``{deployment}``, ``{model}``,
``{endpoint}`` and ``{date}`` (``YYYY.MM.DD`` of ``received_at``, UTC). ``engine`` is Seldon's serving
engine: ``inferenceservice`` for records that came from KServe's logger, ``seldon`` otherwise.
``deployment`` falls back to the model name (as Seldon's request logger does); any other part the record
lacks becomes the caller's placeholder (``default`` for Kafka topics, Seldon's ``unknown-<part>`` for
indices). Every part is cleaned on its own; the literal text of the template is checked once, up front.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from inferwatch.errors import ConfigError
from inferwatch.results import Record

PARTS = ("engine", "namespace", "deployment", "model", "endpoint", "date")

KAFKA_MISSING: Mapping[str, str] = dict.fromkeys(PARTS, "default")
SELDON_MISSING: Mapping[str, str] = {
    "namespace": "unknown-namespace",
    "deployment": "unknown-inferenceservice",
    "model": "unknown-model",
    "endpoint": "unknown-endpoint",
}

_KAFKA_ILLEGAL = re.compile(r"[^A-Za-z0-9._-]+")
_INDEX_ILLEGAL = re.compile(r"[^a-z0-9._+-]+")  # stricter than required: no spaces, '#', ':', '*'...
_KAFKA_MAX, _INDEX_MAX = 249, 255


def serving_engine(record: Record) -> str:
    """``inferenceservice`` for KServe-logged records (and results), else ``seldon`` (Seldon's ``ServingEngine``)."""
    fmt = str(record.tags.get("event_format") or "")
    ce_type = str(record.tags.get("ce_type") or "")
    return "inferenceservice" if fmt == "kserve" or ce_type.startswith("org.kubeflow.") else "seldon"


def _parts(record: Record) -> dict[str, str | None]:
    return {
        "engine": serving_engine(record),
        "namespace": record.namespace,
        "deployment": record.deployment or record.model_name,
        "model": record.model_name,
        "endpoint": record.endpoint,
        "date": record.received_at.strftime("%Y.%m.%d"),
    }


@dataclass(frozen=True)
class NameTemplate:
    """A checked template plus the cleaning rules of one destination (Kafka topics or indices)."""

    template: str
    clean: Callable[[str], str]
    missing: Mapping[str, str]
    max_len: int

    def render(self, record: Record) -> str:
        values = {}
        for key, value in _parts(record).items():
            cleaned = self.clean(value) if value else ""
            values[key] = cleaned or self.missing.get(key, "default")
        return _bounded(self.template.format(**values), self.max_len)

    @property
    def literal_prefix(self) -> str:
        """The text before the first placeholder (``inference-log-`` for Seldon's template)."""
        return self.template.split("{", 1)[0]


def clean_kafka(value: str) -> str:
    return _KAFKA_ILLEGAL.sub("_", value).strip("_")


def clean_index(value: str) -> str:
    return _INDEX_ILLEGAL.sub("-", value.lower()).strip("-_+.")


def kafka_topic_template(template: str) -> NameTemplate:
    """A topic template; a ``ConfigError`` for unknown placeholders or characters Kafka refuses."""
    _check(template, _KAFKA_ILLEGAL, "Kafka topic", "letters, digits, '.', '_' and '-'")
    return NameTemplate(template, clean_kafka, KAFKA_MISSING, _KAFKA_MAX)


def index_template(template: str) -> NameTemplate:
    """An index-name template; a ``ConfigError`` for unknown placeholders or characters an index refuses."""
    _check(template, _INDEX_ILLEGAL, "index name", "lower-case letters, digits, '.', '_', '+' and '-'")
    if template[:1] in ("-", "_", "+", "{"):
        raise ConfigError(f"index template {template!r} must start with a literal prefix such as 'inference-log-'")
    return NameTemplate(template, clean_index, SELDON_MISSING, _INDEX_MAX)


def _check(template: str, illegal: re.Pattern[str], what: str, legal: str) -> None:
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ConfigError(f"{what} template {template!r}: {e}") from e
    for literal, field, spec, conv in fields:
        if field is not None and (field not in PARTS or spec or conv):
            raise ConfigError(f"{what} template {template!r}: unknown placeholder {{{field}}}; use {', '.join(PARTS)}")
        if illegal.search(literal):
            raise ConfigError(f"{what} template {template!r}: only {legal} are allowed")
    if not template:
        raise ConfigError(f"{what} template is empty")


def _bounded(name: str, max_len: int) -> str:
    """Names over the limit keep a readable head and a hash of the whole, so they stay distinct."""
    if len(name.encode()) <= max_len:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    return name.encode()[: max_len - 11].decode(errors="ignore") + "-" + digest
