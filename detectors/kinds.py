"""Detector kinds: one table row per kind, mapping its CLI name to how alibi-detect builds it.

Adding a kind is adding one ``Kind`` row. Kinds that need TensorFlow are listed so ``--help`` and errors
can name them, but building one raises ``ConfigError`` asking for the TensorFlow extra.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inferwatch.errors import ConfigError

Array = np.ndarray[Any, Any]
DRIFT, OUTLIER = "drift", "outlier"
TF_EXTRA = "install the TensorFlow extra: pip install 'alibi-detect[tensorflow]'"


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

    def load_class(self) -> Any:
        module, _, cls = self.target.partition(":")
        return getattr(importlib.import_module(module), cls)


def _drift(kind: Kind, x: Array, options: dict[str, Any]) -> Any:
    return kind.load_class()(x, **{**kind.defaults, **options})


_SKLEARN_MODELS = {
    "random_forest": ("sklearn.ensemble", "RandomForestClassifier", {"n_estimators": 50}),
    "gradient_boosting": ("sklearn.ensemble", "GradientBoostingClassifier", {}),
    "logistic_regression": ("sklearn.linear_model", "LogisticRegression", {"max_iter": 1000}),
}


def _classifier(kind: Kind, x: Array, options: dict[str, Any]) -> Any:
    opts = {**kind.defaults, **options}
    name = str(opts.pop("model", "random_forest"))
    if name not in _SKLEARN_MODELS:
        raise ConfigError(f"unknown classifier model {name!r}; known: {', '.join(_SKLEARN_MODELS)}")
    module, cls, kwargs = _SKLEARN_MODELS[name]
    model = getattr(importlib.import_module(module), cls)(**kwargs)
    return kind.load_class()(x, model, backend="sklearn", **opts)


def _outlier(kind: Kind, x: Array, options: dict[str, Any]) -> Any:
    opts = {**kind.defaults, **options}
    perc = float(opts.pop("threshold_perc", 95.0))
    detector = kind.load_class()(**opts)
    if kind.name == "iforest":
        detector.fit(x)
    detector.infer_threshold(x, threshold_perc=perc)
    return detector


def _needs_tf(kind: Kind, x: Array, options: dict[str, Any]) -> Any:
    raise ConfigError(f"detector kind {kind.name!r} needs TensorFlow, which this cut does not support; {TF_EXTRA}")


_ONLINE = {"ert": 150, "window_sizes": [20]}
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
        Kind("mmd", "alibi_detect.cd:MMDDrift", DRIFT, needs_tf=True),
        Kind("lsdd", "alibi_detect.cd:LSDDDrift", DRIFT, needs_tf=True),
        Kind("mmd-online", "alibi_detect.cd:MMDDriftOnline", DRIFT, needs_tf=True, online=True),
        Kind("lsdd-online", "alibi_detect.cd:LSDDDriftOnline", DRIFT, needs_tf=True, online=True),
        Kind("ae", "alibi_detect.od:OutlierAE", OUTLIER, needs_tf=True),
        Kind("vae", "alibi_detect.od:OutlierVAE", OUTLIER, needs_tf=True),
        Kind("adversarial-ae", "alibi_detect.ad:AdversarialAE", OUTLIER, needs_tf=True),
    )
}

_BUILDERS: dict[str, Callable[[Kind, Array, dict[str, Any]], Any]] = {
    "classifier": _classifier,
    "iforest": _outlier,
    "mahalanobis": _outlier,
}


def get_kind(name: str) -> Kind:
    """The kind called ``name``; ``ConfigError`` lists the known ones."""
    if name not in KINDS:
        raise ConfigError(f"unknown detector kind {name!r}; known: {', '.join(KINDS)}")
    return KINDS[name]


def build(kind: Kind, x: Array, options: dict[str, Any]) -> Any:
    """Fit a detector of ``kind`` on reference data ``x`` (rows x features) with extra constructor options."""
    if kind.needs_tf:
        return _needs_tf(kind, x, options)
    builder = _BUILDERS.get(kind.name, _drift)
    try:
        return builder(kind, x, options)
    except TypeError as e:
        raise ConfigError(f"invalid options for detector kind {kind.name!r}: {e}") from e
