"""``DetectorCore``: one loaded detector, the drift window and the metrics; every transport calls ``detect``."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from detectors.kinds import OUTLIER, Array
from detectors.loader import LoadedDetector, load
from detectors.metrics import DetectorMetrics
from detectors.settings import DetectorSettings
from detectors.window import Window
from inferwatch.errors import UnprocessableEntity
from inferwatch.metrics import new_registry
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
        self.loaded = loaded or load(settings.detector, trust_artifacts=settings.trust_artifacts)
        self.names = self.loaded.feature_names or [f"f{j}" for j in range(self.loaded.n_features or 0)]
        state_dir = settings.state_dir or common().home / "detectors" / settings.model_name
        self.window = Window(state_dir, settings.batch_size, settings.window_seconds)
        self._lock = threading.Lock()
        self.last_result: dict[str, Any] | None = None

    @property
    def detector_type(self) -> str:
        return self.loaded.detector_type

    def health(self) -> dict[str, object]:
        return {"ok": True, "detector_type": self.detector_type, "pending": self.window.received}

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

    def detect(self, x: Array) -> dict[str, Any]:
        """alibi-detect's ``{data, meta}`` for ``x``; drift gives a pending result until a window closes."""
        x = self.check(x)
        self.metrics.instances.labels(self.detector_type).inc(x.shape[0])
        with self._lock:
            if self.detector_type == OUTLIER:
                return self._predict(x)
            if self.loaded.online:
                return self._online(x)
            result: dict[str, Any] | None = None
            for window, trigger in self.window.add(x):
                result = self._predict(window, trigger)
            return result if result is not None else self.pending()

    def _online(self, x: Array) -> dict[str, Any]:
        """Online detectors see one instance at a time: the last result, ``is_drift`` if any instance drifted."""
        results = [self._predict(row[None, :]) for row in x]
        last = results[-1]
        last["data"]["is_drift"] = max(int(r["data"].get("is_drift") or 0) for r in results)
        return last

    def pending(self) -> dict[str, Any]:
        data = {"pending": True, "window_size": self.window.size, "received": self.window.received}
        return {"data": data, "meta": jsonable(self.loaded.meta)}

    def tick(self) -> dict[str, Any] | None:
        """Close the pending window if its time is up (called periodically by the server)."""
        with self._lock:
            result: dict[str, Any] | None = None
            for window, trigger in self.window.expire():
                result = self._predict(window, trigger)
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
        self.last_result = result
        return result
