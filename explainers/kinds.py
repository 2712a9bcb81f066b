"""Explainer kinds, chosen from a table: how to build each alibi explainer and how to explain with it.

A *local* kind explains each instance of a request on its own (one explanation per instance); a *global*
kind explains the request's instances taken together (one explanation per request). Adding a kind is
one builder function and one row in ``KINDS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from inferwatch import tf_env
from inferwatch.errors import ConfigError, UnprocessableEntity
from inferwatch.explainers.reference import Reference

Predictor = Callable[[Any], NDArray[Any]]
Builder = Callable[[Predictor, Reference | None, dict[str, Any]], Any]

ANCHOR_PARAMS = frozenset(
    {
        "threshold",
        "delta",
        "tau",
        "batch_size",
        "coverage_samples",
        "beam_size",
        "stop_on_first",
        "max_anchor_size",
        "min_samples_start",
        "n_covered_ex",
        "binary_cache_size",
        "cache_margin",
    }
)


@dataclass(frozen=True)
class Kind:
    """One explainer kind: its builder, scope and the ``explain`` parameters a request may set."""

    build: Builder
    scope: Literal["local", "global"]
    params: frozenset[str]
    needs_reference: bool = True
    text: bool = False
    needs_tf: bool = False
    image: bool = False
    """Instances are images of ``--option image_shape=[H,W,C]``, kept in that shape (not flattened)."""


def _feature_names(ref: Reference | None, options: dict[str, Any]) -> list[str] | None:
    names = options.get("feature_names") or (ref.feature_names if ref else None)
    return list(names) if names else None


def _ref(ref: Reference | None, kind: str) -> Reference:
    if ref is None:
        raise ConfigError(f"{kind} is fitted on reference data: pass --reference FILE or --explainer-dir DIR")
    return ref


def anchor_tabular(predictor: Predictor, ref: Reference | None, options: dict[str, Any]) -> Any:
    from alibi.explainers import AnchorTabular

    r = _ref(ref, "anchor_tabular")
    explainer = AnchorTabular(predictor, _feature_names(r, options) or [], seed=options.get("seed"))
    return explainer.fit(r.X, disc_perc=tuple(options.get("disc_perc", (25, 50, 75))))


def anchor_text(predictor: Predictor, ref: Reference | None, options: dict[str, Any]) -> Any:
    import spacy
    from alibi.explainers import AnchorText

    nlp = spacy.blank(options.get("language", "en"))
    strategy = options.get("sampling_strategy", "unknown")
    return AnchorText(predictor, sampling_strategy=strategy, nlp=nlp, seed=options.get("seed", 0))


def image_shape(options: dict[str, Any]) -> tuple[int, ...]:
    """``--option image_shape=[H,W,C]`` of an image kind (``H,W,C`` is read as well)."""
    raw = options.get("image_shape")
    if isinstance(raw, str):
        raw = [part for part in raw.replace("x", ",").split(",") if part.strip()]
    try:
        shape = tuple(int(n) for n in raw)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        shape = ()
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ConfigError(
            f"anchor_image needs the images' shape: pass --option image_shape=[H,W,C] (got {raw!r}), "
            "e.g. image_shape=[28,28,1] for grey 28x28 images"
        )
    return shape


def anchor_image(predictor: Predictor, ref: Reference | None, options: dict[str, Any]) -> Any:
    from alibi.explainers import AnchorImage

    segmentation = {"n_segments": 15, "compactness": 20, "sigma": 0.5, "start_label": 0}
    segmentation.update(options.get("segmentation_kwargs") or {})
    return AnchorImage(
        predictor,
        image_shape=image_shape(options),
        segmentation_fn=options.get("segmentation_fn", "slic"),
        segmentation_kwargs=segmentation,
        images_background=ref.X.reshape(-1, *image_shape(options)) if ref is not None else None,
        seed=options.get("seed"),
    )


def kernel_shap(predictor: Predictor, ref: Reference | None, options: dict[str, Any]) -> Any:
    from alibi.explainers import KernelShap

    r = _ref(ref, "kernel_shap")
    link = options.get("link", "identity")  # 'logit' divides by zero on exact 0/1 probabilities
    explainer = KernelShap(predictor, link=link, feature_names=_feature_names(r, options), seed=options.get("seed"))
    n = int(options.get("n_background_samples", 100))
    return explainer.fit(r.X, summarise_background=len(r.X) > n, n_background_samples=n)


def tree_shap(predictor: Predictor, ref: Reference | None, options: dict[str, Any]) -> Any:
    import joblib
    from alibi.explainers import TreeShap

    model_file = options.get("model_file")
    if not model_file:
        raise ConfigError("tree_shap explains a white-box model: pass --option model_file=PATH.joblib")
    if not options.get("trust_artifacts"):
        raise ConfigError("tree_shap loads a pickled model file: pass --trust-artifacts if you trust it")
    model = joblib.load(Path(str(model_file)))
    explainer = TreeShap(
        model, model_output=options.get("model_output", "raw"), feature_names=_feature_names(ref, options)
    )
    return explainer.fit(ref.X if ref is not None else None)


def ale(predictor: Predictor, ref: Reference | None, options: dict[str, Any]) -> Any:
    from alibi.explainers import ALE

    return ALE(predictor, feature_names=_feature_names(ref, options), target_names=options.get("target_names"))


def partial_dependence(predictor: Predictor, ref: Reference | None, options: dict[str, Any]) -> Any:
    from alibi.explainers import PartialDependence

    return PartialDependence(
        predictor, feature_names=_feature_names(ref, options), target_names=options.get("target_names")
    )


def _labels(predictor: Predictor) -> Predictor:
    def predict(x: Any) -> NDArray[Any]:
        out = np.asarray(predictor(x))
        return out.argmax(axis=1) if out.ndim == 2 else out

    return predict


def permutation_importance(predictor: Predictor, ref: Reference | None, options: dict[str, Any]) -> Any:
    from alibi.explainers import PermutationImportance

    return PermutationImportance(
        _labels(predictor),
        score_fns=options.get("score_fns", ["accuracy"]),
        feature_names=_feature_names(ref, options),
    )


KERAS_SAFE_SUFFIX = ".keras"


def _keras_model(model_file: Any, trust_artifacts: bool) -> Any:
    """A Keras model file: ``.keras`` loads in Keras' safe mode; ``.h5``/SavedModel can run code: trust needed."""
    path = Path(str(model_file))
    if path.suffix != KERAS_SAFE_SUFFIX and not trust_artifacts:
        raise ConfigError(f"{path} is not a .keras file and may run code when loaded: pass --trust-artifacts")
    if not path.exists():
        raise ConfigError(f"model file {path} does not exist")
    import tensorflow as tf

    try:
        return tf.keras.models.load_model(str(path), compile=False)
    except (OSError, ValueError, TypeError) as e:
        raise ConfigError(f"{path} could not be loaded as a Keras model ({type(e).__name__}: {e})") from e


def integrated_gradients(predictor: Predictor, ref: Reference | None, options: dict[str, Any]) -> Any:
    """IntegratedGradients on a white-box Keras model (``--option model_file=PATH.keras``)."""
    model_file = options.get("model_file")
    if not model_file:
        raise ConfigError("integrated_gradients explains a white-box Keras model: pass --option model_file=PATH.keras")
    if not tf_env.available():
        raise ConfigError(f"integrated_gradients needs TensorFlow, which is not installed: {tf_env.EXPLAIN_TF_EXTRA}")
    tf_env.use_legacy_keras()
    model = _keras_model(model_file, bool(options.get("trust_artifacts")))
    from alibi.explainers import IntegratedGradients

    return IntegratedGradients(
        model,
        method=str(options.get("method", "gausslegendre")),
        n_steps=int(options.get("n_steps", 50)),
        internal_batch_size=int(options.get("internal_batch_size", 100)),
    )


def _explain_gradients(explainer: Any, x: NDArray[Any], params: dict[str, Any]) -> Any:
    """One instance; the attributed class is ``target`` if given, else the model's own prediction."""
    x = np.asarray(x, dtype=np.float32).reshape(1, -1)
    params = dict(params)
    target = params.pop("target", None)
    if target is None:
        out = np.asarray(explainer.model(x))
        target = out.argmax(axis=1) if out.ndim == 2 and out.shape[1] > 1 else None
    elif np.ndim(target) == 0:
        target = [target]
    if params.get("baselines") is not None:
        params["baselines"] = np.asarray(params["baselines"], dtype=np.float32).reshape(x.shape)
    return explainer.explain(x, target=target, **params)


KINDS: dict[str, Kind] = {
    "anchor_tabular": Kind(anchor_tabular, "local", ANCHOR_PARAMS),
    "anchor_text": Kind(
        anchor_text, "local", ANCHOR_PARAMS | {"sample_proba", "n_covered_ex"}, needs_reference=False, text=True
    ),
    "kernel_shap": Kind(kernel_shap, "local", frozenset({"nsamples", "l1_reg", "summarise_result", "silent"})),
    "tree_shap": Kind(
        tree_shap, "local", frozenset({"interactions", "approximate", "check_additivity"}), needs_reference=False
    ),
    "ale": Kind(ale, "global", frozenset({"features", "min_bin_points"}), needs_reference=False),
    "partial_dependence": Kind(
        partial_dependence,
        "global",
        frozenset({"features", "kind", "percentiles", "grid_resolution"}),
        needs_reference=False,
    ),
    "permutation_importance": Kind(
        permutation_importance,
        "global",
        frozenset({"y", "features", "method", "kind", "n_repeats"}),
        needs_reference=False,
    ),
    "anchor_image": Kind(anchor_image, "local", ANCHOR_PARAMS | {"p_sample"}, needs_reference=False, image=True),
    "integrated_gradients": Kind(
        integrated_gradients,
        "local",
        frozenset({"target", "baselines", "attribute_to_layer_inputs"}),
        needs_reference=False,
        needs_tf=True,
    ),
}

DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "tree_shap": {"check_additivity": False},  # needed with a background set (shap 0.43)
    "kernel_shap": {"silent": True},  # no progress bar per instance on stderr
    "permutation_importance": {"kind": "difference"},  # 'ratio' divides by a score that can be 0
}


@dataclass(frozen=True)
class Bound:
    """The range of one numeric explain parameter: ``[low, high]`` (``(low, high]`` when ``low_open``). ``high`` of
    an integer parameter is a default maximum, ``--explain-limit NAME=MAX`` changes it; a probability's is fixed."""

    low: float
    high: float
    integer: bool = True
    low_open: bool = False

    def describe(self, high: float) -> str:
        if not self.integer:
            return f"a number in {'(' if self.low_open else '['}{self.low:g}, {high:g}]"
        return f"an integer from {self.low:g} to {high:g}"


PROBABILITY = Bound(0.0, 1.0, integer=False, low_open=True)
PARAM_BOUNDS: dict[str, Bound] = {
    "threshold": PROBABILITY,
    "delta": PROBABILITY,
    "tau": PROBABILITY,
    "sample_proba": PROBABILITY,
    "p_sample": PROBABILITY,
    # anchors: memory grows with batch_size x binary_cache_size (alibi preallocates that many samples)
    "batch_size": Bound(1, 1_000),
    "coverage_samples": Bound(1, 100_000),
    "binary_cache_size": Bound(1, 10_000),
    "cache_margin": Bound(0, 10_000),
    "min_samples_start": Bound(1, 10_000),
    "beam_size": Bound(1, 100),
    "max_anchor_size": Bound(1, 100),
    "n_covered_ex": Bound(0, 100),
    "nsamples": Bound(1, 100_000),  # kernel_shap ("auto" is accepted as well)
    "min_bin_points": Bound(1, 100_000),
    "grid_resolution": Bound(1, 1_000),
    "n_repeats": Bound(1, 1_000),
}
"""Every numeric explain parameter a request may set, with its range: a request outside it is a 422 naming the
parameter and the bound (``coverage_samples: 5000000`` took an explainer from 470 MB to 3.2 GB)."""
_SYMBOLIC: dict[str, tuple[Any, ...]] = {"nsamples": ("auto",), "max_anchor_size": (None,)}


def parse_limits(items: list[str]) -> dict[str, int]:
    """``["batch_size=5000"]`` -> maxima replacing ``PARAM_BOUNDS``' defaults (integer parameters only)."""
    out: dict[str, int] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        bound = PARAM_BOUNDS.get(key.strip())
        if not sep or bound is None or not bound.integer:
            known = sorted(k for k, b in PARAM_BOUNDS.items() if b.integer)
            raise ValueError(f"explain limit must be NAME=MAX with NAME one of {', '.join(known)}, got {item!r}")
        try:
            out[key.strip()] = int(raw)
        except ValueError as e:
            raise ValueError(f"explain limit {item!r}: the maximum must be an integer") from e
        if out[key.strip()] < bound.low:
            raise ValueError(f"explain limit {item!r}: the maximum is below the parameter's minimum {bound.low:g}")
    return out


def check_bounds(params: dict[str, Any], maxima: dict[str, int] | None = None) -> None:
    """Each numeric parameter within ``PARAM_BOUNDS`` (``maxima`` overriding the integer maxima), else a 422."""
    for name, value in params.items():
        bound = PARAM_BOUNDS.get(name)
        if bound is None or value in _SYMBOLIC.get(name, ()):
            continue
        high = float((maxima or {}).get(name, bound.high))
        if _within(value, bound, high):
            continue
        raise UnprocessableEntity(
            f"explain parameter {name!r} must be {bound.describe(high)}, got {value!r}",
            details={"parameter": name, "received": value, "min": bound.low, "max": high, "min_open": bound.low_open},
        )


def _within(value: Any, bound: Bound, high: float) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if bound.integer and not (isinstance(value, int) or float(value).is_integer()):
        return False
    if not np.isfinite(value) or value > high:
        return False
    return value > bound.low if bound.low_open else value >= bound.low


def get_kind(name: str) -> Kind:
    """The kind called ``name``; ``ConfigError`` lists the known ones."""
    if name not in KINDS:
        raise ConfigError(f"unknown explainer kind {name!r}; known: {', '.join(sorted(KINDS))}")
    return KINDS[name]


def check_params(name: str, params: dict[str, Any], maxima: dict[str, int] | None = None) -> dict[str, Any]:
    """The request's ``explain`` parameters, merged over the kind's defaults; unknown ones, and numbers outside
    their ``PARAM_BOUNDS`` (``maxima``: ``--explain-limit``), are a 422."""
    allowed = get_kind(name).params
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise UnprocessableEntity(
            f"unknown parameter(s) for {name}: {', '.join(unknown)}",
            details={"allowed": sorted(allowed), "received": unknown},
        )
    check_bounds(params, maxima)
    return {**DEFAULT_PARAMS.get(name, {}), **params}


def explain(name: str, explainer: Any, X: Any, params: dict[str, Any]) -> list[Any]:
    """alibi ``Explanation`` objects: one per instance for local kinds, one for the batch for global ones."""
    kind = get_kind(name)
    if kind.scope == "global":
        if name == "permutation_importance":
            y = params.pop("y", None)
            if y is None or len(y) != len(X):
                raise UnprocessableEntity(
                    "permutation_importance needs one label per instance in parameters.y",
                    details={"expected": len(X), "received": None if y is None else len(y)},
                )
            return [explainer.explain(np.asarray(X), np.asarray(y), **params)]
        return [explainer.explain(np.asarray(X), **params)]
    if kind.text:
        return [explainer.explain(str(x), **params) for x in X]
    if name == "integrated_gradients":
        return [_explain_gradients(explainer, x, params) for x in X]
    if name in ("kernel_shap", "tree_shap"):
        return [explainer.explain(np.asarray(x).reshape(1, -1), **params) for x in X]
    return [explainer.explain(np.asarray(x), **params) for x in X]
