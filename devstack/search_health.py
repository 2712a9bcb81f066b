"""Readiness probes shared by the search-engine services (Elasticsearch, OpenSearch)."""

from __future__ import annotations

import http.client
import json
import urllib.request
from typing import Any

HEALTHY = frozenset({"green", "yellow"})
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Probes go straight to 127.0.0.1, whatever ``http_proxy`` says."""


def cluster_health(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The body of ``GET {url}/_cluster/health``, or None if nothing (or something unparsable) answers."""
    try:
        with _DIRECT.open(f"{url}/_cluster/health", timeout=timeout) as resp:
            body = json.load(resp)
    except (OSError, ValueError, http.client.HTTPException):
        return None
    return body if isinstance(body, dict) else None


def is_healthy(url: str, cluster_name: str) -> bool:
    """True if ``url`` answers cluster health green or yellow for ``cluster_name`` (not some other node)."""
    body = cluster_health(url)
    return body is not None and body.get("cluster_name") == cluster_name and body.get("status") in HEALTHY
