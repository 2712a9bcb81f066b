"""Explainer settings: environment ``INFERWATCH_EXPLAINER_*``, overridden by ``inferwatch explainer`` flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from inferwatch.delivery.publisher import ResultsSettings
from inferwatch.explainers.kinds import PARAM_BOUNDS, parse_limits
from inferwatch.protocols import normalize_protocol
from inferwatch.protocols.limits import DEFAULT_MAX_ELEMENTS
from inferwatch.settings import HttpLimitSettings, split_list

StrList = Annotated[list[str], NoDecode]


def parse_options(items: list[str]) -> dict[str, Any]:
    """``["threshold=0.9", "link=identity"]`` -> ``{"threshold": 0.9, "link": "identity"}``.

    Values are read as JSON when they parse (numbers, booleans, lists), else kept as text.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"option must be key=value, got {item!r}")
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
    return out


class ExplainerSettings(ResultsSettings, HttpLimitSettings):
    """How the explainer server runs: which alibi explainer, fitted on what, in front of which model."""

    model_config = SettingsConfigDict(env_prefix="INFERWATCH_EXPLAINER_", extra="ignore")

    kind: str = Field(
        "anchor_tabular", description="Explainer kind, one of the Kinds above (inferwatch.explainers.kinds.KINDS)."
    )
    model_url: str = Field("http://127.0.0.1:9000", description="Base URL of the model server to explain.")
    protocol: str = Field("seldon", description="Model server protocol: seldon, kserve-v1 or v2.")
    model_name: str = Field("model", description="Model name in KServe v1 / V2 paths.")
    model_output: str | None = Field(
        None, description="V2 output to request and read (e.g. predict_proba); default: the first output."
    )
    reference: Path | None = Field(None, description="Reference data to fit on: .npy, .npz (X[, y]) or .csv.")
    explainer_dir: Path | None = Field(None, description="Directory written by alibi.saving.save_explainer.")
    trust_artifacts: bool = Field(False, description="Allow loading pickled artifacts (saved explainers, models).")
    option: StrList = Field(
        default_factory=list, description="Explainer option key=value (values read as JSON when they parse)."
    )
    host: str = Field("0.0.0.0", description="Interface to listen on.")
    port: int = Field(8080, ge=1, le=65535, description="Port to listen on.")
    metrics_port: int = Field(8083, ge=0, le=65535, description="Port of /metrics and health; 0 disables it.")
    timeout: float = Field(60.0, gt=0, description="Seconds an explanation may take before 504.")
    model_timeout: float = Field(30.0, gt=0, description="Seconds per model call.")
    retries: int = Field(5, ge=0, description="Retries of a model call on connection errors / 502-504.")
    backoff: float = Field(0.1, ge=0, description="First retry delay in seconds; doubles up to 2 s.")
    batch_size: int = Field(5000, ge=1, description="Most perturbed instances sent to the model per call.")
    max_concurrency: int = Field(4, ge=1, description="Model calls in flight at once (connection pool size).")
    max_elements: int = Field(
        DEFAULT_MAX_ELEMENTS,
        ge=1,
        description="Most tensor elements one request may declare (every dimension and all inputs together); "
        "more is a 413, counted in inferwatch_elements_refused_total.",
    )
    explain_limit: StrList = Field(
        default_factory=list,
        description="NAME=MAX: the largest value a request's explain parameter NAME may take, replacing its default ("
        + ", ".join(f"{k} {b.high:g}" for k, b in PARAM_BOUNDS.items() if b.integer)
        + "); probabilities ("
        + ", ".join(k for k, b in PARAM_BOUNDS.items() if not b.integer)
        + ") are always in (0, 1]. A request over a maximum is a 422 naming the parameter and the bound.",
    )

    @field_validator("option", mode="before")
    @classmethod
    def _options(cls, v: object) -> object:
        if isinstance(v, str):
            return [x.strip() for x in v.split(",") if x.strip()]
        return v

    @field_validator("option")
    @classmethod
    def _check_options(cls, v: list[str]) -> list[str]:
        parse_options(v)
        return v

    @field_validator("explain_limit", mode="before")
    @classmethod
    def _limits(cls, v: object) -> object:
        return split_list(v)

    @field_validator("explain_limit")
    @classmethod
    def _check_limits(cls, v: list[str]) -> list[str]:
        parse_limits(v)
        return v

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, v: str) -> str:
        key = normalize_protocol(v)
        if key is None:
            raise ValueError(f"unknown protocol {v!r}; use seldon, kserve-v1 or v2")
        return key

    @field_validator("model_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"model_url must be an http:// or https:// URL, got {v!r}")
        return v.rstrip("/")

    @property
    def options(self) -> dict[str, Any]:
        return parse_options(self.option)

    @property
    def explain_maxima(self) -> dict[str, int]:
        """``--explain-limit`` as parameter -> maximum."""
        return parse_limits(self.explain_limit)
