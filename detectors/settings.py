"""Detector server settings: environment ``INFERWATCH_DETECTOR_*``, overridden by ``inferwatch detector serve``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from inferwatch.delivery.publisher import ResultsSettings
from inferwatch.protocols.limits import DEFAULT_MAX_ELEMENTS
from inferwatch.settings import HttpLimitSettings


class DetectorSettings(ResultsSettings, HttpLimitSettings):
    """How one detector is served (graph component, V2 model and CloudEvents receiver on one port)."""

    model_config = SettingsConfigDict(env_prefix="INFERWATCH_DETECTOR_", extra="ignore")

    detector: Path = Field(description="Directory written by save_detector or 'inferwatch detector fit'.")
    trust_artifacts: bool = Field(False, description="Allow dill/joblib/pickle files (they run code on load).")
    host: str = Field("0.0.0.0", description="Interface to listen on.")
    port: int = Field(8080, ge=1, le=65535, description="Port to listen on.")
    metrics_port: int = Field(8082, ge=0, le=65535, description="Port of /metrics and health; 0 disables it.")
    model_name: str = Field("detector", description="Name on /v2/models/NAME and in /metadata.")
    batch_size: int = Field(1000, ge=1, description="Drift window size in instances (count window).")
    window_seconds: float | None = Field(
        None,
        gt=0,
        description="Drift window duration in seconds; a window closes on count or time, whichever first; "
        "unset: count only.",
    )
    state_dir: Path | None = Field(
        None,
        description="This detector's own state: pending drift window, recent Kafka record ids, online-detector "
        "state, feedback tallies, and state.json naming the detector they belong to; a directory holding another "
        "detector's state is refused at start. Unset: $INFERWATCH_HOME/detectors/NAME-HASH, HASH = 12 hex digits "
        "of the SHA-256 of the resolved --detector path (one directory per detector).",
    )
    checkpoint_every: int = Field(
        100, ge=0, description="Online drift detectors: save their state every N instances (0: on shutdown only)."
    )
    feedback_store: str | None = Field(
        None,
        description="Logged records to look up a feedback's response by request id: sqlite://PATH, "
        "elasticsearch://HOST:PORT or opensearch://HOST:PORT (the logger's sink URI).",
    )
    protocol: str | None = Field(None, description="Force a codec (seldon, v2, kserve-v1); else detected.")
    max_elements: int = Field(
        DEFAULT_MAX_ELEMENTS,
        ge=1,
        description="Most tensor elements one request may declare (every dimension and all inputs together); "
        "more is a 413, counted in inferwatch_elements_refused_total.",
    )
    max_feedback_labels: int = Field(
        100,
        ge=1,
        description="Most distinct class names, and most distinct model names, feedback may create metric series "
        "and tallies for; a feedback naming one more is a 422, counted in inferwatch_feedback_refused_total.",
    )
    event_type: str | None = Field(
        None, description="Ce-Type of answers; default io.seldon.serving.inference.outlier|drift."
    )
    event_source: str = Field("io.inferwatch.detector", description="Ce-Source of answers.")
    reply_url: str | None = Field(None, description="Also POST each CloudEvent answer to this URL.")
    reply_timeout: float = Field(5.0, gt=0, description="Seconds a POST to --reply-url may take.")

    @field_validator("reply_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"reply_url must be an http:// or https:// URL, got {v!r}")
        return v
