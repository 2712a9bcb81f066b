"""Detector kinds: one table row per kind, mapping its CLI name to how alibi-detect builds it.

Adding a kind is adding one ``Kind`` row. Kinds that need TensorFlow (``needs_tf``) are built by
``inferwatch.detectors.tf_kinds`` and need ``pip install 'inferwatch[detect-tf]'``; without it building one raises
``ConfigError`` naming that extra.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inferwatch import tf_env
from inferwatch.errors import ConfigError

Array = np.ndarray[Any, Any]
DRIFT, OUTLIER = "drift", "outlier"
TF_EXTRA = f"install the TensorFlow extra: {tf_env.DETECT_TF_EXTRA}"


@dataclass(frozen=True)
class Kind:
    """How one detector kind is built from reference data."""

    name: str
    target: str
    """``module:Class`` in alibi-detect."""
    detector_type: str
    defaults: dict[str, Any] = field(default_factory=dict)
    needs_tf: bool = False
    savable_without_tf: bool = True
    """False when alibi-detect's ``save_detector`` imports TensorFlow for this kind (legacy format)."""
    online: bool = False
    needs_labels: bool = False
    """True when ``fit`` needs class labels (``--option label_column=NAME``)."""

    def load_class(self) -> Any:
        module, _, cls = self.target.partition(":")
        return getattr(importlib.import_module(module), cls)


Builder = Callable[[Kind, Array, dict[str, Any], "Array | None"], Any]


def _drift(kind: Kind, x: Array, options: dict[str, Any], labels: Array | None = None) -> Any:
    if kind.needs_tf:
        x = x.astype(np.float32)
    return kind.load_class()(x, **{**kind.defaults, **options})


_SKLEARN_MODELS = {
    "random_forest": ("sklearn.ensemble", "RandomForestClassifier", {"n_estimators": 50}),
    "gradient_boosting": ("sklearn.ensemble", "GradientBoostingClassifier", {}),
    "logistic_regression": ("sklearn.linear_model", "LogisticRegression", {"max_iter": 1000}),
}


def _classifier(kind: Kind, x: Array, options: dict[str, Any], labels: Array | None = None) -> Any:
    opts = {**kind.defaults, **options}
    name = str(opts.pop("model", "random_forest"))
    if name not in _SKLEARN_MODELS:
        raise ConfigError(f"unknown classifier model {name!r}; known: {', '.join(_SKLEARN_MODELS)}")
    module, cls, kwargs = _SKLEARN_MODELS[name]
    model = getattr(importlib.import_module(module), cls)(**kwargs)
    return kind.load_class()(x, model, backend="sklearn", **opts)


def _outlier(kind: Kind, x: Array, options: dict[str, Any], labels: Array | None = None) -> Any:
    opts = {**kind.defaults, **options}
    perc = float(opts.pop("threshold_perc", 95.0))
    detector = kind.load_class()(**opts)
    if kind.name == "iforest":
        detector.fit(x)
    detector.infer_threshold(x, threshold_perc=perc)
    return detector


def _autoencoder(kind: Kind, x: Array, options: dict[str, Any], labels: Array | None = None) -> Any:
    from inferwatch.detectors import tf_kinds

    opts = {**kind.defaults, **options}
    return tf_kinds.autoencoder(kind.load_class(), x.astype(np.float32), opts, variational=kind.name == "vae")


def _adversarial(kind: Kind, x: Array, options: dict[str, Any], labels: Array | None = None) -> Any:
    from inferwatch.detectors import tf_kinds

    return tf_kinds.adversarial(kind.load_class(), x.astype(np.float32), {**kind.defaults, **options}, labels)


_ONLINE = {"ert": 150, "window_sizes": [20]}
_TF = {"backend": "tensorflow"}
_TF_ONLINE = {**_TF, "ert": 150, "window_size": 20, "verbose": False}
KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("ks", "alibi_detect.cd:KSDrift", DRIFT),
        Kind("chisquare", "alibi_detect.cd:ChiSquareDrift", DRIFT),
        Kind("tabular", "alibi_detect.cd:TabularDrift", DRIFT),
        Kind("cvm", "alibi_detect.cd:CVMDrift", DRIFT),
        Kind("fet", "alibi_detect.cd:FETDrift", DRIFT),
        Kind("cvm-online", "alibi_detect.cd:CVMDriftOnline", DRIFT, dict(_ONLINE), online=True),
        Kind("fet-online", "alibi_detect.cd:FETDriftOnline", DRIFT, dict(_ONLINE), online=True),
        Kind("classifier", "alibi_detect.cd:ClassifierDrift", DRIFT, {"n_folds": 3}),
        Kind("iforest", "alibi_detect.od:IForest", OUTLIER, savable_without_tf=False),
        Kind("mahalanobis", "alibi_detect.od:Mahalanobis", OUTLIER, savable_without_tf=False),
        Kind("mmd", "alibi_detect.cd:MMDDrift", DRIFT, dict(_TF), needs_tf=True),
        Kind("lsdd", "alibi_detect.cd:LSDDDrift", DRIFT, dict(_TF), needs_tf=True),
        Kind("mmd-online", "alibi_detect.cd:MMDDriftOnline", DRIFT, dict(_TF_ONLINE), needs_tf=True, online=True),
        Kind("lsdd-online", "alibi_detect.cd:LSDDDriftOnline", DRIFT, dict(_TF_ONLINE), needs_tf=True, online=True),
        Kind("ae", "alibi_detect.od:OutlierAE", OUTLIER, needs_tf=True),
        Kind("vae", "alibi_detect.od:OutlierVAE", OUTLIER, needs_tf=True),
        Kind("adversarial-ae", "alibi_detect.ad:AdversarialAE", OUTLIER, needs_tf=True, needs_labels=True),
    )
}

_BUILDERS: dict[str, Builder] = {
    "classifier": _classifier,
    "iforest": _outlier,
    "mahalanobis": _outlier,
    "ae": _autoencoder,
    "vae": _autoencoder,
    "adversarial-ae": _adversarial,
}


def get_kind(name: str) -> Kind:
    """The kind called ``name``; ``ConfigError`` lists the known ones."""
    if name not in KINDS:
        raise ConfigError(f"unknown detector kind {name!r}; known: {', '.join(KINDS)}")
    return KINDS[name]


def build(kind: Kind, x: Array, options: dict[str, Any], labels: Array | None = None) -> Any:
    """Fit a detector of ``kind`` on reference data ``x`` (rows x features) with extra constructor options.

    ``labels`` (one class per row) are used by kinds with ``needs_labels``.
    """
    if kind.needs_tf:
        if not tf_env.available():
            raise ConfigError(f"detector kind {kind.name!r} needs TensorFlow, which is not installed; {TF_EXTRA}")
        tf_env.use_legacy_keras()
    builder = _BUILDERS.get(kind.name, _drift)
    try:
        return builder(kind, x, options, labels)
    except TypeError as e:
        raise ConfigError(f"invalid options for detector kind {kind.name!r}: {e}") from e
