"""``DetectorCore``: one loaded detector, the drift window and the metrics; every transport calls ``detect``."""

from __future__ import annotations

import logging
import math
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from inferwatch.detectors.feedback import FeedbackCounter
from inferwatch.detectors.kinds import OUTLIER, Array
from inferwatch.detectors.loader import LoadedDetector, load
from inferwatch.detectors.metrics import DetectorMetrics
from inferwatch.detectors.settings import DetectorSettings
from inferwatch.detectors.state import DetectorIdentity, claim, resolve_state_dir
from inferwatch.detectors.window import Window
from inferwatch.errors import ConfigError, UnprocessableEntity
from inferwatch.health import Check, Health
from inferwatch.metrics import new_registry
from inferwatch.protocols import Payload, limits
from inferwatch.settings import common

log = logging.getLogger("inferwatch.detectors")


def jsonable(value: Any) -> Any:
    """alibi-detect's result with numpy arrays and scalars as plain JSON values (NaN/inf as ``None``)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class OnlineCheckpoint:
    """An online detector's state (alibi-detect's ``save_state``/``load_state``) in ``state_dir/online``: loaded on
    start, saved every ``every`` instances and on ``close`` (written beside, then moved in with ``os.replace``)."""

    def __init__(self, detector: Any, state_dir: Path, every: int) -> None:
        self.detector, self.dir, self.every = detector, state_dir / "online", every
        self.unsaved = 0
        if any(self.dir.glob("state.*")):
            try:
                detector.load_state(self.dir)
            except Exception as e:  # numpy/torch raise many types for a damaged file
                raise ConfigError(
                    f"{self.dir}: online detector state could not be loaded ({type(e).__name__}: {e}); "
                    "delete that directory to start the detector afresh"
                ) from e
            log.info("online detector state loaded from %s (t=%s)", self.dir, int(getattr(detector, "t", 0)))

    def step(self, n: int) -> None:
        """``n`` more instances seen: save when ``every`` have passed since the last save."""
        self.unsaved += n
        if self.every and self.unsaved >= self.every:
            self.save()

    def save(self) -> None:
        """Persist the state now; a failure is logged (detection goes on, the previous checkpoint stays)."""
        tmp = self.dir.with_name("online.tmp")
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            self.detector.save_state(tmp)
            self.dir.mkdir(parents=True, exist_ok=True)
            for f in tmp.iterdir():
                os.replace(f, self.dir / f.name)
            tmp.rmdir()
        except OSError as e:
            log.error("saving online detector state to %s failed: %s", self.dir, e)
            return
        self.unsaved = 0


class DetectorCore:
    """Validates features, runs the detector (per request for outliers, per window for drift), records metrics."""

    def __init__(
        self,
        settings: DetectorSettings,
        registry: CollectorRegistry | None = None,
        loaded: LoadedDetector | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else new_registry()
        self.metrics = DetectorMetrics(self.registry)
        limits.enforce(settings.max_elements, self.registry)
        self.loaded = loaded or load(settings.detector, trust_artifacts=settings.trust_artifacts)
        self.names = self.loaded.feature_names or [f"f{j}" for j in range(self.loaded.n_features or 0)]
        self.identity = DetectorIdentity.of(settings.detector, self.loaded)
        state_dir = resolve_state_dir(settings.state_dir, common().home, settings.model_name, settings.detector)
        claim(state_dir, self.identity)
        self.state_dir = state_dir
        """This detector's own state directory (``inferwatch.detectors.state``)."""
        log.info("state of the %s in %s", self.identity.describe(), state_dir)
        self.window = Window(state_dir, settings.batch_size, settings.window_seconds)
        self.checkpoint = (
            OnlineCheckpoint(self.loaded.detector, state_dir, settings.checkpoint_every) if self.loaded.online else None
        )
        self.feedback = FeedbackCounter(self.registry, state_dir / "feedback.json", settings.max_feedback_labels)
        self._lock = threading.Lock()
        self.last_result: dict[str, Any] | None = None
        self.on_window: Callable[[dict[str, Any]], object] | None = None
        """Called with each closed drift window's result (``inferwatch.detectors.results.DetectorResults.window``)."""
        self.probes = Health(detector_type=self.detector_type)
        """What the health endpoints answer: ready once the detector is loaded (it is, once this object exists);
        the transports add the workers they run (window ticker, result delivery, Kafka consumer) to liveness and
        readiness."""
        self.probes.readiness("detector", self._loaded_check)

    @property
    def detector_type(self) -> str:
        return self.loaded.detector_type

    def health(self) -> dict[str, object]:
        """The readiness report of ``probes`` (``live``, ``ready``, ``ok`` = ready, every check)."""
        return self.probes.report()

    def _loaded_check(self) -> Check:
        return Check(True, detail={"detector_type": self.detector_type, "pending": self.window.received})

    def features(self, rows: Sequence[dict[str, Any]]) -> Array:
        """Decoded rows (``Payload.rows()``) as the detector's feature matrix, by name when names match."""
        if not rows:
            raise UnprocessableEntity("the request holds no instances")
        keys = list(rows[0])
        expected = self.loaded.n_features
        if self.loaded.feature_names and set(self.loaded.feature_names) <= set(keys):
            keys = self.loaded.feature_names
        elif expected is not None and len(keys) != expected:
            raise self._shape_error((len(rows), len(keys)))
        try:
            matrix = [[row[k] for k in keys] for row in rows]
            x = np.asarray(matrix)
        except (KeyError, ValueError) as e:
            raise UnprocessableEntity(f"instances are not a rectangular feature table: {e}") from e
        if x.ndim != 2:
            raise self._shape_error(tuple(int(n) for n in x.shape))
        return self.check(x)

    def payload_features(self, payload: Payload) -> Array:
        """A decoded payload's feature matrix. One finite numeric 2-D tensor is used as it is (columns picked by
        name when the payload's ``names`` hold the detector's features): the same matrix ``features`` builds
        from ``payload.rows()``, without a dict per row (~20 ms for 1,000 x 10). Anything else goes through
        ``features``."""
        payload.check_batch()  # a scalar, ragged rows or inputs of different batch sizes: 422 naming it
        x = self._tensor_matrix(payload)
        return self.features(payload.rows()) if x is None else self.check(x)

    def _tensor_matrix(self, payload: Payload) -> Array | None:
        if len(payload.tensors) != 1:
            return None
        data = payload.tensors[0].data
        if not isinstance(data, np.ndarray) or data.ndim != 2 or not data.shape[0] or data.dtype.kind not in "biuf":
            return None
        if data.dtype.kind == "f" and not np.isfinite(data).all():
            return None  # rows() turns NaN/inf into None: keep that path's answer
        wanted, names = self.loaded.feature_names, payload.names
        if wanted and names and len(names) == data.shape[1] and set(wanted) <= set(names):
            return data[:, [names.index(n) for n in wanted]]
        return data

    def check(self, x: Array) -> Array:
        """``x`` validated against the detector: 2-D, right width, numeric; cast to the reference dtype."""
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim != 2 or (self.loaded.n_features is not None and x.shape[1] != self.loaded.n_features):
            raise self._shape_error(tuple(int(n) for n in x.shape))
        if x.dtype.kind not in "biuf":
            raise UnprocessableEntity(
                f"features must be numeric, received dtype {x.dtype}",
                details={"expected_dtype": str(self.loaded.dtype or "numeric"), "received_dtype": str(x.dtype)},
            )
        return x.astype(self.loaded.dtype, copy=False) if self.loaded.dtype is not None else x

    def _shape_error(self, received: tuple[int, ...]) -> UnprocessableEntity:
        expected = ["n", self.loaded.n_features]
        return UnprocessableEntity(
            f"expected instances of shape {expected} (features: {', '.join(self.names)}), received {list(received)}",
            details={"expected_shape": expected, "received_shape": list(received), "features": self.names},
        )

    def detect(self, x: Array, record_id: str | None = None) -> dict[str, Any]:
        """alibi-detect's ``{data, meta}`` for ``x``; drift gives a pending result until a window closes.

        ``record_id`` (``detector consume``: the Kafka record's id) makes a drift window count a record once: rows
        of a record it already took are not added again, and the answer is pending with ``duplicate: true``.
        """
        x = self.check(x)
        with self._lock:
            if record_id is not None and self._windowed and self.window.seen(record_id):
                self.metrics.duplicates.inc()
                return self.pending(duplicate=True)
            self.metrics.instances.labels(self.detector_type).inc(x.shape[0])
            if self.detector_type == OUTLIER:
                return self._predict(x)
            if self.loaded.online:
                return self._online(x)
            result: dict[str, Any] | None = None
            for window, trigger in self.window.add(x, record_id=record_id):
                result = self._predict(window, trigger)
            self.window.commit()
            return result if result is not None else self.pending()

    @property
    def _windowed(self) -> bool:
        """Drift over windows (not outliers, judged per request, nor online drift, updated per instance)."""
        return self.detector_type != OUTLIER and not self.loaded.online

    def _online(self, x: Array) -> dict[str, Any]:
        """Online detectors see one instance at a time: the last result, ``is_drift`` if any instance drifted."""
        results = [self._predict(row[None, :]) for row in x]
        if self.checkpoint is not None:
            self.checkpoint.step(len(x))
        last = results[-1]
        last["data"]["is_drift"] = max(int(r["data"].get("is_drift") or 0) for r in results)
        return last

    def close(self) -> None:
        """Clean shutdown: save an online detector's unsaved state."""
        with self._lock:
            if self.checkpoint is not None and self.checkpoint.unsaved:
                self.checkpoint.save()

    def pending(self, *, duplicate: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"pending": True, "window_size": self.window.size, "received": self.window.received}
        if duplicate:
            data["duplicate"] = True
        return {"data": data, "meta": jsonable(self.loaded.meta)}

    def tick(self) -> dict[str, Any] | None:
        """Close the pending window if its time is up (called periodically by the server)."""
        with self._lock:
            result: dict[str, Any] | None = None
            for window, trigger in self.window.expire():
                result = self._predict(window, trigger)
            self.window.commit()
            return result

    def _predict(self, x: Array, trigger: str | None = None) -> dict[str, Any]:
        start = time.perf_counter()
        raw = self.loaded.detector.predict(x)
        self.metrics.seconds.labels(self.detector_type).observe(time.perf_counter() - start)
        result: dict[str, Any] = jsonable(raw)
        data = result.get("data", {})
        if self.detector_type == OUTLIER:
            self.metrics.record_outlier(data, self.names)
        else:
            self.metrics.record_drift(data, self.names)
            if trigger:
                self.metrics.windows.labels(trigger).inc()
                data["window_size"], data["trigger"] = int(x.shape[0]), trigger
                if self.on_window is not None:
                    self.on_window(result)
        self.last_result = result
        return result
