"""Load a detector directory: any alibi-detect ``save_detector`` output, or inferwatch's joblib fallback."""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inferwatch import tf_env
from inferwatch.detectors.artifacts import JOBLIB_FILE, JOBLIB_FORMAT, read_manifest, unsafe_files
from inferwatch.detectors.kinds import KINDS, OUTLIER, TF_EXTRA
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


_NO_TF_CLASSES = frozenset(k.target.partition(":")[2] for k in KINDS.values() if not k.needs_tf)


def needs_tensorflow(path: Path) -> bool:
    """Whether loading ``path`` may need TensorFlow; ``False`` only when it surely does not.

    Read from the ``inferwatch.json`` manifest, else from ``config.toml`` (class name and backend); the legacy
    ``meta.dill`` format (alibi-detect's Keras-model detectors) and anything unreadable count as needing it.
    """
    kind = read_manifest(path).get("kind") if path.is_dir() else None
    if kind in KINDS:
        return KINDS[kind].needs_tf
    config = path / "config.toml"
    try:
        table = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return True
    backend = table.get("backend")
    return not (table.get("name") in _NO_TF_CLASSES and backend in (None, "sklearn"))


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
    if needs_tensorflow(path):
        tf_env.use_legacy_keras()  # the legacy format's Keras models load with tf-keras
    from alibi_detect.saving import load_detector

    try:
        return load_detector(str(path))
    except ImportError as e:
        raise ConfigError(f"{file} needs a backend that is not installed ({e}); {TF_EXTRA}") from e
    except Exception as e:  # alibi-detect raises many types for incompatible dirs
        raise ConfigError(
            f"{file} could not be loaded by alibi-detect ({type(e).__name__}: {e}); "
            f"check its alibi-detect version or {FIX}"
        ) from e


class _Adapter:
    """Wraps an alibi-detect detector; every attribute but ``predict`` is the detector's own."""

    def __init__(self, detector: Any) -> None:
        self.detector = detector

    def __getattr__(self, name: str) -> Any:
        return getattr(self.detector, name)


class _OneInstance(_Adapter):
    """Online MMD/LSDD take one instance as a 1-D array; the core hands them ``(1, features)`` rows."""

    def predict(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(x, "ndim", 1) == 2 and x.shape[0] == 1:
            x = x[0]
        return self.detector.predict(x, *args, **kwargs)


class _Adversarial(_Adapter):
    """An alibi-detect adversarial detector served like an outlier detector, one verdict per instance.

    Its result keeps alibi-detect's ``is_adversarial`` and adds ``is_outlier`` (the same flags), so Seldon's
    outlier metrics count adversarial instances.
    """

    def predict(self, x: Any) -> Any:
        result = self.detector.predict(x)
        result["data"]["is_outlier"] = result["data"].get("is_adversarial")
        return result


def _describe(detector: Any, manifest: dict[str, Any]) -> LoadedDetector:
    meta = dict(getattr(detector, "meta", {}) or {})
    detector_type = meta.get("detector_type") or manifest.get("detector_type") or "drift"
    if detector_type == "adversarial":
        detector, detector_type = _Adversarial(detector), OUTLIER
    elif meta.get("online") and meta.get("backend") == "tensorflow":
        detector = _OneInstance(detector)
    x_ref = getattr(detector, "x_ref", None)
    if x_ref is None:
        x_ref = getattr(getattr(detector, "_detector", None), "x_ref", None)
    shape = getattr(x_ref, "shape", None)
    n_features = int(shape[1]) if shape is not None and len(shape) == 2 else manifest.get("n_features")
    names = manifest.get("feature_names")
    return LoadedDetector(
        detector=detector,
        detector_type=str(detector_type),
        online=bool(meta.get("online", False)),
        n_features=n_features,
        feature_names=list(names) if isinstance(names, list) and len(names) == n_features else None,
        dtype=_numpy_dtype(getattr(x_ref, "dtype", None)),
        meta=meta,
    )


def _numpy_dtype(dtype: Any) -> Any:
    """The reference's numpy dtype (TensorFlow detectors keep ``x_ref`` as a tensor of a ``tf.DType``)."""
    return getattr(dtype, "as_numpy_dtype", dtype)
