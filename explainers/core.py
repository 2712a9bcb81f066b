"""``ExplainerCore``: one fitted alibi explainer in front of one model, explaining whole batches.

The explainer is built and fitted at start-up from ``--reference`` (or loaded from a
``save_explainer`` directory, only with ``--trust-artifacts``). alibi is synchronous, so each explanation
runs in a worker thread; the model calls it makes go back to the event loop through the model client
(``asyncio.run_coroutine_threadsafe``), so they are pooled, batched and retried. One explanation runs at a
time (alibi explainers keep per-call state); an explanation that exceeds ``--timeout`` answers 504 and is
abandoned at its next model call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from inferwatch.errors import ConfigError, InferwatchError, NotReady, UnprocessableEntity, UpstreamTimeout
from inferwatch.explainers import kinds
from inferwatch.explainers.client import ClientConfig, ModelClient
from inferwatch.explainers.metrics import ExplainerMetrics
from inferwatch.explainers.reference import Reference, load_reference
from inferwatch.explainers.settings import ExplainerSettings
from inferwatch.health import Check, Health
from inferwatch.protocols import limits

log = logging.getLogger("inferwatch.explainers")


@dataclass
class _Call:
    """What the model calls of one explanation share: a call counter and a cancel flag."""

    timeout: float
    calls: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event)


class _Predictor:
    """The ``predictor`` alibi holds: routes each call to the model client of the current explanation."""

    def __init__(self, client: ModelClient, default_timeout: float) -> None:
        self._client = client
        self._default_timeout = default_timeout
        self._local = threading.local()

    def __reduce__(self) -> tuple[Any, ...]:
        # alibi's save_explainer may pickle a reference to the predictor (AnchorTabular's sampler); the model
        # client is never saved: load_explainer sets a live predictor again.
        return (_detached, ())

    def bind(self, call: _Call | None) -> None:
        self._local.call = call

    def __call__(self, x: Any) -> NDArray[Any]:
        call: _Call = getattr(self._local, "call", None) or _Call(timeout=self._default_timeout)
        if call.cancelled.is_set():
            raise UpstreamTimeout("explanation abandoned after its timeout")
        return self._client.predict_blocking(x, call.timeout, call.cancelled)


def _detached() -> Any:
    return None


class ExplainerCore:
    """Fits or loads the explainer on ``start``; ``explain`` answers one explanation per instance."""

    def __init__(self, settings: ExplainerSettings, metrics: ExplainerMetrics | None = None) -> None:
        self.settings = settings
        self.kind_name = settings.kind
        self.kind = kinds.get_kind(settings.kind)
        self.metrics = metrics or ExplainerMetrics()
        limits.enforce(settings.max_elements, self.metrics.registry)
        self._maxima = settings.explain_maxima
        self.client = ModelClient(
            ClientConfig(
                url=settings.model_url,
                protocol=settings.protocol,
                model_name=settings.model_name,
                model_output=settings.model_output,
                timeout=settings.model_timeout,
                retries=settings.retries,
                backoff=settings.backoff,
                batch_size=settings.batch_size,
                max_concurrency=settings.max_concurrency,
            )
        )
        self._predictor = _Predictor(self.client, settings.model_timeout * (settings.retries + 1))
        self._lock = threading.Lock()
        self.explainer: Any = None
        self.reference: Reference | None = None
        self.n_features: int | None = None
        self.failure: Exception | None = None
        """Why ``start`` failed, when it did (set by the app's lifespan)."""
        self.probes = Health(kind=self.kind_name, model=self.client.url)
        """What the health endpoints answer: ready once the explainer is fitted (or loaded); result delivery adds
        its threads to liveness (``ResultPublisher.watch``)."""
        self.probes.readiness("explainer", self._fitted_check)
        self._check(settings)

    def _check(self, s: ExplainerSettings) -> None:
        """Settings errors found before anything is served (the CLI exits 2 on them)."""
        if s.explainer_dir is not None:
            if not s.trust_artifacts:
                raise ConfigError(
                    f"{s.explainer_dir} is a pickled (dill) explainer: loading it runs code; pass --trust-artifacts"
                )
            if not s.explainer_dir.is_dir():
                raise ConfigError(f"explainer directory {s.explainer_dir} does not exist")
        elif s.reference is None and self.kind.needs_reference:
            raise ConfigError(f"{self.kind_name} needs --reference FILE or --explainer-dir DIR")
        elif s.reference is not None and not s.reference.is_file():
            raise ConfigError(f"reference file {s.reference} does not exist")

    @property
    def ready(self) -> bool:
        """Whether the explainer is fitted (or loaded) and explanations can be asked."""
        return self.explainer is not None

    def _fitted_check(self) -> Check:
        if self.ready:
            return Check(True)
        if self.failure is not None:
            return Check(False, f"preparing the explainer failed: {self.failure}")
        return Check(False, f"the {self.kind_name} explainer is still being fitted or loaded")

    async def start(self) -> None:
        """Open the model client, then fit (or load) the explainer in a worker thread."""
        await self.client.start()
        started = time.monotonic()
        log.info("explainer %s: preparing against %s", self.kind_name, self.client.url)
        per_call = self.settings.model_timeout * (self.settings.retries + 1)
        self.explainer, _ = await asyncio.to_thread(self._run, self._prepare, per_call)
        log.info("explainer %s ready in %.1fs", self.kind_name, time.monotonic() - started)

    async def stop(self) -> None:
        await self.client.close()

    def _prepare(self) -> Any:
        s, options = self.settings, self.settings.options
        if s.explainer_dir is not None:
            return self._load(s)
        if s.reference is not None:
            log.info("explainer %s: reading reference %s", self.kind_name, s.reference)
            self.reference = load_reference(s.reference, options.pop("target", None))
            self.n_features = self.reference.n_features
            log.info("explainer %s: fitting on %d x %d reference rows", self.kind_name, *self.reference.X.shape)
        return self.kind.build(self._predictor, self.reference, {**options, "trust_artifacts": s.trust_artifacts})

    def _load(self, s: ExplainerSettings) -> Any:
        if not s.trust_artifacts:
            raise ConfigError(
                f"{s.explainer_dir} is a pickled (dill) explainer: loading it runs code; pass --trust-artifacts"
            )
        from alibi.saving import load_explainer

        log.info("explainer %s: loading %s", self.kind_name, s.explainer_dir)
        explainer = load_explainer(str(s.explainer_dir), predictor=self._predictor)
        names = getattr(explainer, "feature_names", None)
        self.n_features = len(names) if names else None
        return explainer

    def _run(self, fn: Any, timeout: float, *args: Any) -> tuple[Any, _Call]:
        call = _Call(timeout=timeout)
        self._predictor.bind(call)
        try:
            return fn(*args), call
        finally:
            self._predictor.bind(None)

    def instances(self, data: Any) -> NDArray[Any]:
        """The request's instances as a 2-D array (text kinds: 1-D), checked against the feature count."""
        try:
            X = np.asarray(data, dtype=object if self.kind.text else None)
        except ValueError as e:  # numpy: "inhomogeneous shape"
            raise UnprocessableEntity(
                f"instances are ragged (rows of different lengths): {e}", details={"problem": "ragged"}
            ) from e
        if self.kind.text:
            return X.reshape(-1)
        if X.dtype.kind not in "biuf":
            problem = "ragged" if X.dtype.kind == "O" and any(isinstance(v, list) for v in X.ravel()) else "dtype"
            what = "ragged instances (rows of different lengths)" if problem == "ragged" else f"{X.dtype} values"
            raise UnprocessableEntity(
                f"{self.kind_name} explains numeric instances, got {what}", details={"problem": problem}
            )
        if X.dtype.kind == "f" and not np.isfinite(X).all():
            raise UnprocessableEntity(
                f"instances hold {int((~np.isfinite(X)).sum())} NaN or infinite value(s): an explanation needs "
                "finite numbers",
                details={"problem": "not finite"},
            )
        if self.kind.image:
            return self._images(X)
        X = X.reshape(1, -1) if X.ndim <= 1 else X.reshape(X.shape[0], -1)
        if self.n_features is not None and X.shape[1] != self.n_features:
            raise UnprocessableEntity(
                f"expected {self.n_features} features per instance, received {X.shape[1]}",
                details={"expected": self.n_features, "received": int(X.shape[1])},
            )
        return X

    def _images(self, X: NDArray[Any]) -> NDArray[Any]:
        """Image instances as ``[n, *image_shape]`` (one image may come without the batch axis)."""
        shape = kinds.image_shape(self.settings.options)
        squeezed = shape[:-1] if len(shape) == 3 and shape[-1] == 1 else shape  # grey images may omit C=1
        if X.shape in (shape, squeezed):
            X = X.reshape(1, *shape)
        elif X.ndim >= 2 and X.shape[1:] in (shape, squeezed):
            X = X.reshape(X.shape[0], *shape)
        else:
            raise UnprocessableEntity(
                f"expected images of shape {list(shape)} (one, or a batch [n, {', '.join(map(str, shape))}]), "
                f"received {list(X.shape)}",
                details={"expected": ["n", *shape], "received": list(X.shape)},
            )
        return X

    async def explain(self, data: Any, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """``Explanation.to_json()`` (parsed) for every instance (local kinds) or for the batch (global)."""
        if not self.ready:
            raise NotReady("explainer is not ready yet")
        started = time.monotonic()
        try:
            X = self.instances(data)
            checked = kinds.check_params(self.kind_name, dict(params or {}), self._maxima)
            call = _Call(timeout=self.settings.model_timeout * (self.settings.retries + 1))
            task = asyncio.ensure_future(asyncio.to_thread(self._explain_sync, X, checked, call))
            try:
                out = await asyncio.wait_for(asyncio.shield(task), self.settings.timeout)
            except TimeoutError as e:
                call.cancelled.set()  # the worker gives up at its next model call (or before it starts)
                task.add_done_callback(_consume)
                raise UpstreamTimeout(
                    f"explanation took longer than {self.settings.timeout}s", details={"timeout": self.settings.timeout}
                ) from e
        except InferwatchError as e:
            self.metrics.errors.labels(type(e).__name__).inc()
            raise
        self.metrics.latency.labels(self.kind_name).observe(time.monotonic() - started)
        self.metrics.model_calls.labels(self.kind_name).observe(call.calls)
        self.metrics.explanations.labels(self.kind_name).inc(len(out))
        return out

    def _explain_sync(self, X: NDArray[Any], params: dict[str, Any], call: _Call) -> list[dict[str, Any]]:
        with self._lock:
            if call.cancelled.is_set():
                raise UpstreamTimeout("explanation abandoned after its timeout")
            self._predictor.bind(call)
            before = self.client.calls
            try:
                explanations = kinds.explain(self.kind_name, self.explainer, X, params)
            except InferwatchError:
                raise
            except (ValueError, TypeError, IndexError, ArithmeticError) as e:
                raise UnprocessableEntity(f"{self.kind_name} could not explain these instances: {e}") from e
            finally:
                self._predictor.bind(None)
                call.calls = self.client.calls - before
            return [explanation_json(e.to_json()) for e in explanations]


def explanation_json(text: str) -> Any:
    """alibi's ``Explanation.to_json()`` parsed; the ``NaN``/``Infinity`` it may write (Python's json does) become
    ``null``, the JSON every consumer can read."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return _finite(json.loads(text))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned explanation's outcome so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()
