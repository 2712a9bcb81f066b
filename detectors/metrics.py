"""Detector metrics under Seldon's names, plus per-feature series (label ``feature``) and latency.

Seldon's alibi-detect server exposes ``seldon_metric_outlier_*`` and ``seldon_metric_drift_*`` without a
feature breakdown. Here every drift metric carries ``feature``: one series per feature for univariate
detectors (KS, CVM, chi-square...), and ``feature=""`` (the same as no label in PromQL) for the
detector-wide value, so queries written for Seldon keep working.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from inferwatch.metrics import LATENCY_BUCKETS, rejected_counter

ALL = ""


class DetectorMetrics:
    """Metrics of one detector, registered on an injected registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.rejected = rejected_counter(registry)
        """Requests refused by a transport limit (``inferwatch.guard``)."""
        self.is_outlier = Counter(
            "seldon_metric_outlier_is_outlier",
            "Instances flagged as outliers.",
            registry=registry,
        )
        self.instance_score = Gauge(
            "seldon_metric_outlier_instance_score", "Outlier score of the last instance.", registry=registry
        )
        self.feature_score = Gauge(
            "inferwatch_detector_outlier_feature_score",
            "Per-feature outlier score of the last instance (detectors that give one).",
            ["feature"],
            registry=registry,
        )
        f = ["feature"]
        self.is_drift = Gauge("seldon_metric_drift_is_drift", "1 when the last window drifted.", f, registry=registry)
        self.p_val = Gauge("seldon_metric_drift_p_val", "p-value of the last window.", f, registry=registry)
        self.distance = Gauge("seldon_metric_drift_distance", "Distance of the last window.", f, registry=registry)
        self.threshold = Gauge("seldon_metric_drift_threshold", "Threshold of the p-value.", f, registry=registry)
        self.instances = Counter(
            "inferwatch_detector_instances",
            "Instances received, by detector type.",
            ["detector_type"],
            registry=registry,
        )
        self.windows = Counter(
            "inferwatch_detector_windows",
            "Drift windows evaluated, by trigger (count, time).",
            ["trigger"],
            registry=registry,
        )
        self.duplicates = Counter(
            "inferwatch_detector_duplicates",
            "Records delivered again (same Kafka record id) and not counted into a drift window a second time.",
            registry=registry,
        )
        self.seconds = Histogram(
            "inferwatch_detector_duration_seconds",
            "Time spent in the detector's predict, by detector type.",
            ["detector_type"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def record_outlier(self, data: dict[str, Any], names: Sequence[str]) -> None:
        flags = np.asarray(data.get("is_outlier", []), dtype=float).ravel()
        self.is_outlier.inc(float(flags.sum()))
        scores = data.get("instance_score")
        if scores is not None and np.size(scores):
            self.instance_score.set(float(np.asarray(scores, dtype=float).ravel()[-1]))
        fscore = data.get("feature_score")
        if fscore is not None and np.size(fscore):
            last = np.asarray(fscore, dtype=float).reshape(len(flags) or 1, -1)[-1]
            self._per_feature(self.feature_score, last, names)

    def record_drift(self, data: dict[str, Any], names: Sequence[str]) -> None:
        threshold = _scalar(data.get("threshold"))
        p_val = data.get("p_val")
        self.is_drift.labels(ALL).set(float(np.max(np.asarray(data.get("is_drift") or 0, dtype=float))))
        if threshold is not None:
            self.threshold.labels(ALL).set(threshold)
        for gauge, value in ((self.p_val, p_val), (self.distance, data.get("distance"))):
            if value is None:
                continue
            arr = np.asarray(value, dtype=float).ravel()
            if arr.size == 1 and np.isfinite(arr[0]):
                gauge.labels(ALL).set(float(arr[0]))
            else:
                self._per_feature(gauge, arr, names)
        if p_val is not None and threshold is not None and np.size(p_val) > 1:
            flags = (np.asarray(p_val, dtype=float).ravel() < threshold).astype(float)
            self._per_feature(self.is_drift, flags, names)

    @staticmethod
    def _per_feature(gauge: Gauge, values: Any, names: Sequence[str]) -> None:
        for j, v in enumerate(values):
            gauge.labels(names[j] if j < len(names) else f"f{j}").set(float(v))


def _scalar(value: Any) -> float | None:
    """A single finite number from a scalar or one-element list (``None``/NaN give ``None``)."""
    if value is None:
        return None
    arr = np.asarray(value, dtype=float).ravel()
    return float(arr[0]) if arr.size == 1 and np.isfinite(arr[0]) else None


class FeedbackMetrics:
    """Feedback metrics (``/send-feedback``, ``io.seldon.serving.feedback`` events) on an injected registry.

    Seldon's names: its metrics server's ``seldon_metric_{true,false}_{positive,negative}`` counters (label
    ``class`` = ``CLASS_<id>``, as its multi-class models tag them) and its executor's
    ``seldon_api_model_feedback[_reward]``; every series also carries ``model_name``. Counts are one-vs-rest per
    class, so for a binary model ``class="CLASS_1"`` are Seldon's binary counters. ``inferwatch_feedback_accuracy``
    is the fraction of correct instances (``class=""``) and each class's one-vs-rest accuracy.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        mc = ["model_name", "class"]
        self.tp = Counter("seldon_metric_true_positive", "Feedback instances: true positives.", mc, registry=registry)
        self.fp = Counter("seldon_metric_false_positive", "Feedback instances: false positives.", mc, registry=registry)
        self.tn = Counter("seldon_metric_true_negative", "Feedback instances: true negatives.", mc, registry=registry)
        self.fn = Counter("seldon_metric_false_negative", "Feedback instances: false negatives.", mc, registry=registry)
        m = ["model_name"]
        self.feedback = Counter("seldon_api_model_feedback", "Feedback messages received.", m, registry=registry)
        self.reward = Counter("seldon_api_model_feedback_reward", "Sum of feedback rewards.", m, registry=registry)
        self.instances = Counter(
            "inferwatch_feedback_instances", "Instances with a known truth and prediction.", m, registry=registry
        )
        self.correct = Counter(
            "inferwatch_feedback_correct", "Instances whose predicted class was the truth.", m, registry=registry
        )
        self.refused = Counter(
            "inferwatch_feedback_refused_total",
            "Feedback refused (422) because it names one class or model more than --max-feedback-labels allows "
            "(what: classes, models); no series or tally was created for it.",
            ["what"],
            registry=registry,
        )
        self.accuracy = Gauge(
            "inferwatch_feedback_accuracy",
            'Accuracy so far: overall (class="") and one-vs-rest per class.',
            mc,
            registry=registry,
        )
