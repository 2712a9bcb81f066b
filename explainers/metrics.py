"""The explainer's Prometheus metrics, on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from inferwatch.metrics import LATENCY_BUCKETS, new_registry, rejected_counter

MODEL_CALL_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


class ExplainerMetrics:
    """Explain latency, model calls per explanation request, explanations and errors."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or new_registry()
        self.rejected = rejected_counter(self.registry)
        """Requests refused by a transport limit (``inferwatch.guard``)."""
        self.latency = Histogram(
            "inferwatch_explainer_explain_seconds",
            "Time to answer one explain request",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model_calls = Histogram(
            "inferwatch_explainer_model_calls",
            "Model server calls made for one explain request",
            ["kind"],
            buckets=MODEL_CALL_BUCKETS,
            registry=self.registry,
        )
        self.explanations = Counter(
            "inferwatch_explainer_explanations", "Explanations returned", ["kind"], registry=self.registry
        )
        self.errors = Counter(
            "inferwatch_explainer_errors",
            "Explain requests that failed, by error type",
            ["type"],
            registry=self.registry,
        )
