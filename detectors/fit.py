"""Fit a detector on reference data and save it (``inferwatch detector fit``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from inferwatch.detectors.artifacts import JOBLIB_FILE, JOBLIB_FORMAT, SAVE_DETECTOR_FORMAT, write_manifest
from inferwatch.detectors.kinds import OUTLIER, Array, Kind, build, get_kind
from inferwatch.errors import ConfigError

log = logging.getLogger("inferwatch.detectors.fit")


def parse_options(items: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as JSON when they parse (``0.01``, ``[20]``), else as text."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option must be key=value, got {item!r}")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if key == "categories_per_feature" and isinstance(value, dict):
            value = {int(k): v for k, v in value.items()}
        out[key] = value
    return out


def read_reference(path: Path, feature_names: Sequence[str] | None = None) -> tuple[Array, list[str]]:
    """Reference data as a 2-D array and its feature names (csv/parquet headers, else ``f0, f1...``)."""
    if not path.is_file():
        raise ConfigError(f"reference file {path} does not exist")
    suffix = path.suffix.lower()
    names: list[str] | None = None
    if suffix == ".npy":
        x = np.load(path, allow_pickle=False)
    elif suffix in (".csv", ".parquet"):
        import pandas as pd

        try:
            frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
        except ImportError as e:
            raise ConfigError(f"reading {path} needs pyarrow: pip install pyarrow ({e})") from e
        names = [str(c) for c in frame.columns]
        x = frame.to_numpy()
    else:
        raise ConfigError(f"reference file {path} must be .csv, .npy or .parquet")
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if x.ndim != 2 or x.dtype.kind not in "biuf":
        raise ConfigError(f"reference data in {path} must be a numeric 2-D table, got {x.dtype} {x.shape}")
    if feature_names:
        if len(feature_names) != x.shape[1]:
            raise ConfigError(f"{len(feature_names)} feature names given for {x.shape[1]} columns in {path}")
        names = list(feature_names)
    return x, names or [f"f{j}" for j in range(x.shape[1])]


def split_labels(x: Array, names: list[str], column: Any) -> tuple[Array, list[str], Array]:
    """Take the label column (a name, or an index for files without a header) out of the reference."""
    index = names.index(column) if column in names else column
    if not isinstance(index, int) or not 0 <= index < x.shape[1]:
        raise ConfigError(f"label_column {column!r} is not a column of the reference; columns: {', '.join(names)}")
    keep = [j for j in range(x.shape[1]) if j != index]
    return x[:, keep], [names[j] for j in keep], x[:, index]


def _note(kind: Kind, options: dict[str, Any]) -> str:
    """What the slow part of fitting is, for the progress bar."""
    if kind.online:
        return " (online: simulating thresholds, 30-60 s at default ert; lower ert/window_size to speed up)"
    if kind.needs_tf and kind.detector_type == OUTLIER:
        return f" (training {options.get('epochs', 50)} epochs)"
    return ""


def save(detector: Any, kind: Kind, out: Path, feature_names: list[str], n_features: int) -> str:
    """Save with alibi-detect's ``save_detector``; kinds it cannot save without TF go to joblib.

    Returns the format written (``alibi-detect`` or ``inferwatch-joblib``).
    """
    from alibi_detect import __version__ as ad_version

    fmt = SAVE_DETECTOR_FORMAT
    if kind.savable_without_tf:
        from alibi_detect.saving import save_detector

        save_detector(detector, str(out))
    else:
        import joblib

        out.mkdir(parents=True, exist_ok=True)
        joblib.dump(detector, out / JOBLIB_FILE)
        fmt = JOBLIB_FORMAT
    manifest = {
        "format": fmt,
        "kind": kind.name,
        "detector_type": kind.detector_type,
        "feature_names": feature_names,
        "n_features": n_features,
        "alibi_detect_version": ad_version,
    }
    write_manifest(out, manifest)
    return fmt


def fit_detector(
    kind_name: str,
    reference: Path,
    out: Path,
    *,
    feature_names: Sequence[str] | None = None,
    options: dict[str, Any] | None = None,
    progress: bool = True,
) -> str:
    """Read the reference, fit a detector of ``kind_name`` and save it to ``out``; returns the format."""
    kind = get_kind(kind_name)
    opts = dict(options or {})
    label_column = opts.pop("label_column", None)
    if kind.needs_labels and label_column is None:
        raise ConfigError(f"{kind.name} trains a classifier on the reference: pass --option label_column=NAME")
    steps = tqdm(total=3, desc=f"fit {kind.name}", unit="step", disable=not progress)
    with steps:
        steps.set_postfix_str(f"reading {reference.name}")
        x, names = read_reference(reference, feature_names)
        labels = None
        if label_column is not None:
            x, names, labels = split_labels(x, names, label_column)
        steps.update()
        steps.set_postfix_str(f"fitting on {x.shape[0]}x{x.shape[1]}{_note(kind, opts)}")
        detector = build(kind, x, opts, labels)
        steps.update()
        steps.set_postfix_str(f"saving to {out}")
        fmt = save(detector, kind, out, names, int(x.shape[1]))
        steps.update()
    log.info("saved %s detector (%s format) to %s", kind.name, fmt, out)
    return fmt
