"""Load a detector directory: any alibi-detect ``save_detector`` output, or inferwatch's joblib fallback."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detectors.artifacts import JOBLIB_FILE, JOBLIB_FORMAT, read_manifest, unsafe_files
from inferwatch.errors import ConfigError

log = logging.getLogger("inferwatch.detectors.loader")
FIX = "write one with `inferwatch detector fit` or alibi_detect.saving.save_detector"


@dataclass
class LoadedDetector:
    """A ready detector and what is known about its inputs."""

    detector: Any
    detector_type: str
    online: bool
    n_features: int | None
    feature_names: list[str] | None
    dtype: Any
    meta: dict[str, Any]


def load(path: Path, *, trust_artifacts: bool) -> LoadedDetector:
    """Load ``path``; ``ConfigError`` names the file at fault and the fix."""
    if not path.is_dir():
        raise ConfigError(f"detector directory {path} does not exist; {FIX}")
    manifest = read_manifest(path)
    config = path / "config.toml"
    legacy = path / "meta.dill"
    joblib_format = manifest.get("format") == JOBLIB_FORMAT
    if not (joblib_format or config.is_file() or legacy.is_file()):
        raise ConfigError(f"{config} not found: {path} is not a detector directory; {FIX}")
    unsafe = unsafe_files(path)
    if unsafe and not trust_artifacts:
        names = ", ".join(str(p) for p in unsafe)
        raise ConfigError(
            f"{names}: pickle-based artefacts run code when loaded; pass --trust-artifacts "
            "(INFERWATCH_DETECTOR_TRUST_ARTIFACTS=true) only if you trust who wrote them"
        )
    detector = _load_joblib(path) if joblib_format else _load_alibi(path, config if config.is_file() else legacy)
    return _describe(detector, manifest)


def _load_joblib(path: Path) -> Any:
    import joblib

    file = path / JOBLIB_FILE
    try:
        return joblib.load(file)
    except Exception as e:  # any unpickling failure means the file is unusable here
        raise ConfigError(f"{file} could not be loaded ({type(e).__name__}: {e}); re-fit the detector") from e


def _load_alibi(path: Path, file: Path) -> Any:
    from alibi_detect.saving import load_detector

    try:
        return load_detector(str(path))
    except ImportError as e:
        raise ConfigError(
            f"{file} needs a backend that is not installed ({e}); install the TensorFlow extra: "
            "pip install 'alibi-detect[tensorflow]'"
        ) from e
    except Exception as e:  # alibi-detect raises many types for incompatible dirs
        raise ConfigError(
            f"{file} could not be loaded by alibi-detect ({type(e).__name__}: {e}); "
            f"check its alibi-detect version or {FIX}"
        ) from e


def _describe(detector: Any, manifest: dict[str, Any]) -> LoadedDetector:
    meta = dict(getattr(detector, "meta", {}) or {})
    x_ref = getattr(detector, "x_ref", None)
    if x_ref is None:
        x_ref = getattr(getattr(detector, "_detector", None), "x_ref", None)
    shape = getattr(x_ref, "shape", None)
    n_features = int(shape[1]) if shape is not None and len(shape) == 2 else manifest.get("n_features")
    names = manifest.get("feature_names")
    return LoadedDetector(
        detector=detector,
        detector_type=str(meta.get("detector_type") or manifest.get("detector_type") or "drift"),
        online=bool(meta.get("online", False)),
        n_features=n_features,
        feature_names=list(names) if isinstance(names, list) and len(names) == n_features else None,
        dtype=getattr(x_ref, "dtype", None),
        meta=meta,
    )
