"""Logger settings: environment ``INFERWATCH_LOGGER_*``, overridden by ``inferwatch logger`` flags."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from inferwatch.limits import HttpLimits
from inferwatch.protocols.limits import DEFAULT_MAX_ELEMENTS
from inferwatch.settings import HttpLimitSettings, split_list

StrList = Annotated[list[str], NoDecode]


class LoggerSettings(HttpLimitSettings):
    """How the request logger runs. With ``upstream`` it is a reverse proxy in front of a model server;
    without, a CloudEvents receiver for the Seldon executor's and KServe's loggers."""

    model_config = SettingsConfigDict(env_prefix="INFERWATCH_LOGGER_", extra="ignore")

    upstream: str | None = Field(
        None,
        description="Model server URL (e.g. http://127.0.0.1:9000): proxy mode when set, else a CloudEvents receiver.",
    )
    host: str = Field("0.0.0.0", description="Interface to listen on.")
    port: int = Field(8080, ge=1, le=65535, description="Port to listen on.")
    metrics_port: int = Field(8082, ge=0, le=65535, description="Port of /metrics and health; 0 disables it.")
    sink: StrList = Field(
        default_factory=list, description="Sink URIs; the embedded store ($INFERWATCH_HOME/inferwatch.db) when none."
    )
    queue_size: int = Field(
        10_000, ge=1, description="Records held in memory per queue before spooling (dropping without a spool)."
    )
    batch_size: int = Field(500, ge=1, description="Records per sink write.")
    linger_ms: float = Field(50.0, ge=0, description="Milliseconds a sink worker waits to fill a batch.")
    max_retries: int = Field(
        5, ge=0, description="Retries of a failed batch before it goes to the spool (dropped without one)."
    )
    sample_rate: float = Field(1.0, ge=0.0, le=1.0, description="Fraction of requests logged, 0..1.")
    max_payload_bytes: int = Field(
        1_048_576,
        ge=0,
        description="Bodies (requests and responses) over this many bytes are recorded truncated to their first "
        "bytes and flagged truncated; the proxy still forwards them whole.",
    )
    max_decompressed_bytes: int = Field(
        16 << 20,
        ge=1,
        description="Largest size a gzip/deflate body is decompressed to for its record; a body over it is recorded "
        "as the compressed bytes' size and SHA-256, flagged limit_exceeded.",
    )
    max_decompression_ratio: float = Field(
        100.0,
        gt=1,
        description="Largest decompressed/compressed size ratio of a gzip/deflate body (applies above 1 MiB "
        "decompressed); over it, recorded as with --max-decompressed-bytes.",
    )
    redact_path: StrList = Field(
        default_factory=list,
        description="Dotted JSON path masked with [REDACTED] before anything is stored or sent, "
        "e.g. meta.tags.user; * matches any key or list item.",
    )
    redact_field: StrList = Field(
        default_factory=list,
        description="Feature/field name masked before anything is stored or sent: as an object key anywhere "
        "(also in CloudEvents metadata), a named V2 input/output (kept as BYTES of its shape) and a Seldon "
        "data.names column (ndarray, tensor, tftensor); the rest of the body stays decoded.",
    )
    redact_unparsed: Literal["drop", "keep"] = Field(
        "drop",
        description="With --redact-path/--redact-field, a body that cannot be redacted (truncated, or not parsable "
        "as its protocol): drop its bytes, keeping size, content type, SHA-256 and parse error (flagged redacted); "
        "keep: store it as captured, unredacted (flagged unredacted).",
    )
    pairing_ttl: float = Field(30.0, gt=0, description="Seconds to wait for the other half of an event.")
    pairing_max_bytes: int | None = Field(
        None,
        ge=0,
        description="Most bytes of bodies of CloudEvent halves waiting for their partner; past it the oldest are "
        "written at once as partial records (counted in inferwatch_logger_pairing_overflow_total, never dropped). "
        "Unset: 64 x --max-payload-bytes (64 MiB by default).",
    )
    max_elements: int = Field(
        DEFAULT_MAX_ELEMENTS,
        ge=1,
        description="Most tensor elements one body may declare (every dimension and all inputs together); a body "
        "over it is recorded undecoded with its error, counted in inferwatch_elements_refused_total.",
    )
    upstream_timeout: float = Field(60.0, gt=0, description="Seconds before a model call is answered with 504.")
    upstream_probe_path: str | None = Field(
        None,
        description="Model server path probed for the proxy's readiness (e.g. /v2/health/ready, /health/ping; "
        "2xx = ready); none: a TCP connect to the upstream.",
    )
    upstream_probe_seconds: float = Field(
        5.0, gt=0, description="Seconds between two probes of the model server (cached; never probed per request)."
    )
    protocol: str | None = Field(None, description="Force a codec (seldon, v2, kserve-v1); else detected.")
    model_name: str | None = Field(None, description="Model name recorded when the path/body does not say.")
    node: str | None = Field(
        None,
        description="Graph node this logger sits beside. Set it on every logger of an inference graph whose nodes "
        "share request ids and sinks (a KServe transformer and predictor): records are then <request id>@<node>.",
    )
    id_window: int = Field(
        65_536,
        ge=1,
        description="Recent record ids remembered: an exchange reusing one of them is stored as <id>~<suffix> "
        "(flagged collision) instead of replacing the earlier record.",
    )
    deployment: str | None = Field(None, description="Deployment name recorded with every request.")
    namespace: str | None = Field(None, description="Namespace recorded with every request.")
    endpoint: str | None = Field(None, description="Endpoint/predictor recorded with every request.")
    shutdown_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds to deliver (or spool) pending records on shutdown; "
        "what is still in memory then is dropped.",
    )
    durability: Literal["async", "sync"] = Field(
        "async",
        description="async: answer at once, a crash loses at most the in-memory queues; "
        "sync: answer only once the exchange is fsynced in the write-ahead log, nothing answered is lost.",
    )
    spool_dir: Path | None = Field(
        None,
        description="On-disk spools: the intake spool (a busy record builder), those of slow/failing sinks and the "
        "write-ahead log; default $INFERWATCH_HOME/spool.",
    )
    spool_max_bytes: int = Field(
        1 << 30,
        ge=0,
        description="Bound of the intake spool, of each sink's spool and of the write-ahead log; 0 = no spool.",
    )

    @field_validator("sink", "redact_path", "redact_field", mode="before")
    @classmethod
    def _lists(cls, v: object) -> object:
        return split_list(v)

    @field_validator("upstream_probe_path")
    @classmethod
    def _probe_path(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("/"):
            raise ValueError(f"upstream_probe_path must start with '/', got {v!r}")
        return v

    @field_validator("upstream")
    @classmethod
    def _upstream(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"upstream must be an http:// or https:// URL, got {v!r}")
        return v.rstrip("/")

    def http_limits(self) -> HttpLimits:
        """The transport limits; the proxy takes bodies of any size (the model decides), the receiver does not."""
        base = super().http_limits()
        return replace(
            base,
            body_bytes=None if self.mode == "proxy" else base.body_bytes,
            decompressed_bytes=self.max_decompressed_bytes,
            decompression_ratio=self.max_decompression_ratio,
        )

    @property
    def pairing_bytes(self) -> int:
        """``pairing_max_bytes``, or its default: 64 bodies of the largest size captured."""
        return self.pairing_max_bytes if self.pairing_max_bytes is not None else 64 * max(self.max_payload_bytes, 1)

    @property
    def mode(self) -> Literal["proxy", "cloudevents"]:
        return "proxy" if self.upstream else "cloudevents"
