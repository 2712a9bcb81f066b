"""Settings shared by every service, and the one way CLI flags map onto settings.

Each service declares its own ``BaseSettings`` subclass with an env prefix under ``INFERWATCH_``
(``INFERWATCH_LOGGER_``, ``INFERWATCH_DETECTOR_``...), every field documented with ``Field(description=...)``.
``inferwatch.cli_flags`` derives the CLI flags from those fields; ``from_cli`` maps them back.
Precedence: CLI flag > environment > default.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from inferwatch import limits
from inferwatch.errors import ConfigError

S = TypeVar("S", bound=BaseSettings)


class CommonSettings(BaseSettings):
    """Locations every service and tool agrees on."""

    model_config = SettingsConfigDict(env_prefix="INFERWATCH_", extra="ignore")

    home: Path = Field(
        Path.home() / ".local" / "share" / "inferwatch",
        description="State directory: the embedded store, spools, dev-stack data and logs.",
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "inferwatch",
        description="Downloads reused across runs (Maven jars, peer venvs). Never inside the work tree.",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")

    @property
    def default_store_uri(self) -> str:
        """The embedded SQLite store used when no sink is configured."""
        return f"sqlite:///{self.home / 'inferwatch.db'}"


class HttpLimitSettings(BaseSettings):
    """The transport limits of an HTTP service (``inferwatch.limits``); each service's settings class inherits
    these fields, so every service has the same flags under its own env prefix."""

    max_body_bytes: int = Field(
        32 << 20,
        ge=0,
        description="Largest request body accepted, in bytes; larger is answered 413 before it is read "
        "(0: no limit). The logger proxy does not apply it: it streams any body to the model and records the "
        "first --max-payload-bytes.",
    )
    max_header_bytes: int = Field(
        64 << 10, ge=1024, description="Largest request line plus header fields, in bytes; larger is answered 431."
    )
    max_header_count: int = Field(100, ge=1, description="Most header fields in one request; more is answered 431.")
    header_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a client has to send a request's headers (from the connection or its first byte); "
        "then the connection is answered 408 and closed.",
    )
    body_timeout: float = Field(
        60.0,
        gt=0,
        description="Seconds a client has to send a request's whole body once its headers are in; then it is "
        "answered 408 (or the connection closed if the answer has begun).",
    )
    max_json_depth: int = Field(
        limits.MAX_JSON_DEPTH,
        ge=1,
        le=limits.JSON_DEPTH_CEILING,
        description="Deepest nesting of arrays/objects in a JSON body or CloudEvent; deeper is answered 400 "
        "(the logger records such a body raw, flagged limit_exceeded).",
    )

    def http_limits(self) -> limits.HttpLimits:
        """The value object the transport layer enforces."""
        return limits.HttpLimits(
            body_bytes=self.max_body_bytes or None,
            header_bytes=self.max_header_bytes,
            header_count=self.max_header_count,
            header_timeout=self.header_timeout,
            body_timeout=self.body_timeout,
            json_depth=self.max_json_depth,
        )


def split_list(v: object) -> object:
    """A list setting from the environment: comma-separated (``a,b``) or JSON (``["a","b"]``); use it in a
    ``mode="before"`` field validator (with ``NoDecode``) of any settings class."""
    if isinstance(v, str):
        v = v.strip()
        if v.startswith("["):
            import json

            return json.loads(v)
        return [x.strip() for x in v.split(",") if x.strip()]
    return v


def common() -> CommonSettings:
    """Current common settings (read from the environment each call, so tests can change it)."""
    return CommonSettings()


def from_cli(cls: type[S], args: argparse.Namespace, **extra: Any) -> S:
    """Build ``cls`` from the environment, overridden by every CLI flag that was given.

    A flag maps onto the field of the same name (``--metrics-port`` -> ``metrics_port``, as
    ``inferwatch.cli_flags.add_settings_arguments`` adds them); flags left at ``None`` fall through to the
    environment and then the field default.
    """
    given = {k: v for k, v in vars(args).items() if v is not None and k in cls.model_fields}
    given.update(extra)
    try:
        return cls(**given)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from e
