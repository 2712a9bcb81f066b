"""Prometheus metrics helpers. A registry is always injected, never the global one."""

from __future__ import annotations

import weakref

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Buckets (seconds) suited to in-process work and loopback HTTP: 100 µs to 10 s.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


def new_registry() -> CollectorRegistry:
    """A fresh registry for one service instance (tests create many side by side)."""
    return CollectorRegistry(auto_describe=True)


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The text exposition of ``registry`` and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


_REJECTED: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()


def rejected_counter(registry: CollectorRegistry) -> Counter:
    """``inferwatch_http_rejected_total{limit}``: requests refused by a transport limit (``inferwatch.limits``).
    One per registry: services that share a registry (the dashboards' test of every service's metrics) share it."""
    if (counter := _REJECTED.get(registry)) is None:
        counter = _REJECTED[registry] = _new_rejected_counter(registry)
    return counter


def _new_rejected_counter(registry: CollectorRegistry) -> Counter:
    return Counter(
        "inferwatch_http_rejected_total",
        "Requests refused (413, 400, 431, 408) or bodies not decoded because they crossed a transport limit, by "
        "limit: body_bytes, decompressed_bytes, decompression_ratio, json_depth, header_bytes, header_count, "
        "read_timeout.",
        ["limit"],
        registry=registry,
    )
