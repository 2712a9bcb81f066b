"""Logger settings: environment ``INFERWATCH_LOGGER_*``, overridden by ``inferwatch logger`` flags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from inferwatch.settings import split_list

StrList = Annotated[list[str], NoDecode]


class LoggerSettings(BaseSettings):
    """How the request logger runs. With ``upstream`` it is a reverse proxy in front of a model server;
    without, a CloudEvents receiver for the Seldon executor's and KServe's loggers."""

    model_config = SettingsConfigDict(env_prefix="INFERWATCH_LOGGER_", extra="ignore")

    upstream: str | None = Field(None, description="Model server URL; proxy mode when set.")
    host: str = Field("0.0.0.0", description="Interface to listen on.")
    port: int = Field(8080, ge=1, le=65535)
    metrics_port: int = Field(8082, ge=0, le=65535, description="/metrics and health; 0 disables it.")
    sink: StrList = Field(default_factory=list, description="Sink URIs; the embedded store when empty.")
    queue_size: int = Field(10_000, ge=1, description="Records held in memory per queue before drops.")
    batch_size: int = Field(500, ge=1)
    linger_ms: float = Field(50.0, ge=0, description="How long a sink worker waits to fill a batch.")
    max_retries: int = Field(
        5, ge=0, description="Retries of a failed batch before it goes to the spool (dropped without one)."
    )
    sample_rate: float = Field(1.0, ge=0.0, le=1.0, description="Fraction of requests logged.")
    max_payload_bytes: int = Field(1_048_576, ge=0, description="Larger bodies are truncated and flagged.")
    redact_path: StrList = Field(default_factory=list, description="Dotted JSON paths masked before sinks.")
    redact_field: StrList = Field(default_factory=list, description="Feature/field names masked everywhere.")
    pairing_ttl: float = Field(30.0, gt=0, description="Seconds to wait for the other half of an event.")
    upstream_timeout: float = Field(60.0, gt=0)
    protocol: str | None = Field(None, description="Force a codec (seldon, v2, kserve-v1); else detected.")
    model_name: str | None = None
    deployment: str | None = None
    namespace: str | None = None
    endpoint: str | None = None
    shutdown_timeout: float = Field(30.0, gt=0)
    durability: Literal["async", "sync"] = Field(
        "async",
        description="async: answer at once, a crash loses at most the in-memory queues; "
        "sync: answer only once the exchange is fsynced in the write-ahead log, nothing answered is lost.",
    )
    spool_dir: Path | None = Field(
        None,
        description="Spools of slow/failing sinks and the write-ahead log; default $INFERWATCH_HOME/spool.",
    )
    spool_max_bytes: int = Field(
        1 << 30, ge=0, description="Bound of each sink's spool (and of the write-ahead log); 0 = no spool."
    )

    @field_validator("sink", "redact_path", "redact_field", mode="before")
    @classmethod
    def _lists(cls, v: object) -> object:
        return split_list(v)

    @field_validator("upstream")
    @classmethod
    def _upstream(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"upstream must be an http:// or https:// URL, got {v!r}")
        return v.rstrip("/")

    @property
    def mode(self) -> Literal["proxy", "cloudevents"]:
        return "proxy" if self.upstream else "cloudevents"
