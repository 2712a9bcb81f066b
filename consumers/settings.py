"""Settings of the Kafka consumers: environment ``INFERWATCH_CONSUME_*``, overridden by ``inferwatch consume`` flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from inferwatch.settings import split_list
from inferwatch.sinks.kafka_options import SECURITY_OPTIONS, security_settings

Format = Literal["auto", "inferwatch", "seldon-v1", "seldon-v2"]


class KafkaClientSettings(BaseSettings):
    """Brokers and TLS/SASL, named as the ``kafka://`` sink's options are."""

    model_config = SettingsConfigDict(env_prefix="INFERWATCH_CONSUME_", extra="ignore")

    bootstrap: str = Field(description="Kafka bootstrap servers, HOST:PORT[,HOST:PORT...].")
    security_protocol: str | None = Field(None, description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.")
    sasl_mechanism: str | None = Field(None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.")
    sasl_username: str | None = Field(None, description="SASL user.")
    sasl_password: str | None = Field(None, description="SASL password (prefer the environment variable).")
    ssl_cafile: str | None = Field(None, description="CA bundle (PEM) the brokers' certificates are checked against.")
    ssl_certfile: str | None = Field(None, description="Client certificate (PEM).")
    ssl_keyfile: str | None = Field(None, description="Client private key (PEM).")

    @field_validator("ssl_cafile", "ssl_certfile", "ssl_keyfile")
    @classmethod
    def _exists(cls, v: str | None) -> str | None:
        if v is not None and not Path(v).is_file():
            raise ValueError(f"no such file {v!r}")
        return v

    def client_config(self) -> dict[str, Any]:
        """kafka-python settings shared by the consumer and the dead-letter producer."""
        return {
            "bootstrap_servers": [h.strip() for h in self.bootstrap.split(",") if h.strip()],
            **security_settings(**{name: getattr(self, name) for name in SECURITY_OPTIONS}),
        }


class ConsumeSettings(KafkaClientSettings):
    """What ``consume index`` and ``consume replay`` share: topics, sinks, formats, batches, pairing."""

    topic: str | None = Field(None, description="Topic to read.")
    sink: list[str] = Field(
        description="Where records go: elasticsearch://HOST:PORT, opensearch://HOST:PORT or sqlite:///PATH, "
        "with the logger's sink options (see 'inferwatch logger --help').",
    )
    format: Format = Field(
        "auto",
        description="Message format: auto (per message), inferwatch (the logger's kafka:// records), seldon-v1 "
        "(Seldon Core v1 executor Kafka logging), seldon-v2 (Seldon Core v2 dataflow topics).",
    )
    dlq_topic: str | None = Field(
        None,
        description="Dead-letter topic for messages that cannot be decoded (original key, value and headers, plus "
        "inferwatch-dlq-* headers with the reason and source topic/partition/offset). Unset: counted and logged "
        "only.",
    )
    batch: int = Field(500, ge=1, description="Most messages per poll (and per write to the sinks).")
    pairing_ttl: float = Field(
        30.0,
        gt=0,
        description="Seconds a Seldon request or response half waits for its partner before it is written alone, "
        "flagged partial.",
    )
    max_payload_bytes: int = Field(
        1_048_576, ge=0, description="Bodies over this many bytes are kept truncated (flagged truncated)."
    )
    writers: int = Field(
        4,
        ge=1,
        le=32,
        description="Batches written at once, each through sink connections of its own (offsets are still committed "
        "in order); with a sqlite:// sink, 1 (SQLite takes one writer at a time).",
    )
    retry_max_seconds: float = Field(
        30.0, gt=0, description="Longest pause between attempts to write to a failing sink (backoff doubles up to it)."
    )

    _split = field_validator("sink", mode="before")(split_list)

    @property
    def writer_count(self) -> int:
        """``writers``, or 1 when a sink is SQLite."""
        return 1 if any(uri.lower().startswith("sqlite:") for uri in self.sink) else self.writers


class IndexSettings(ConsumeSettings):
    """``inferwatch consume index``: a consumer-group member."""

    pattern: str | None = Field(None, description="Regular expression of topics to read (instead of --topic).")
    group: str = Field("inferwatch-indexer", description="Consumer group; members share the topic's partitions.")
    host: str = Field(
        "127.0.0.1",
        description="Interface of the metrics/health server (0.0.0.0: every interface, e.g. in a container).",
    )
    metrics_port: int = Field(
        9104, ge=0, le=65535, description="Port of /metrics, /health/live and /health/ready; 0 disables it."
    )
    stall_seconds: float = Field(
        120.0, gt=0, description="Not ready when no poll completed for this long (a sink failing that long counts)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> IndexSettings:
        if (self.topic is None) == (self.pattern is None):
            raise ValueError("give exactly one of --topic and --pattern")
        return self


class ReplaySettings(ConsumeSettings):
    """``inferwatch consume replay``: history into a sink, no group."""

    topic: str = Field(description="Topic to replay.")
    from_offset: int | None = Field(None, ge=0, description="Start at this offset in every partition.")
    from_time: str | None = Field(
        None, description="Start at the first message at or after this time (ISO-8601, e.g. 2026-12-01T00:00:00Z)."
    )
    until: str | None = Field(
        None, description="Stop at the first message after this time (ISO-8601); unset: the end offsets at start."
    )

    @model_validator(mode="after")
    def _one_start(self) -> ReplaySettings:
        if (self.from_offset is None) == (self.from_time is None):
            raise ValueError("give exactly one of --from-offset and --from-time")
        return self
