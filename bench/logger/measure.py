"""One measurement: a wrk run against a target, the CPU its proxy process spent, and what the logger stored."""

from __future__ import annotations

import logging
import time
import urllib.error
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.logger import wrk
from bench.logger.procs import Proc
from bench.logger.variants import DeliveryCounts, Target, delivery_counts

log = logging.getLogger(__name__)

DRAIN_TIMEOUT = 120.0


@dataclass(frozen=True)
class Measurement:
    """Figures of one run of one variant at one concurrency, in one repetition."""

    upstream: str
    concurrency: int
    rep: int
    variant: str
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    mean_ms: float
    proxy_cpu_s: float | None
    """CPU seconds of the proxy process (nginx or the logger), delivery included; None for ``direct``."""
    upstream_cpu_s: float
    logged: int | None
    """Records every sink stored during the run (loggers only)."""
    dropped: int | None
    drain_s: float | None
    """Seconds after the load stopped until every record was stored (loggers only)."""

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.proxy_cpu_s is None or self.requests == 0:
            return None
        return self.proxy_cpu_s / self.requests * 1e6

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cpu_us_per_request": self.cpu_us_per_request}


def wait_drained(metrics_port: int, timeout: float = DRAIN_TIMEOUT) -> DeliveryCounts:
    """Poll the logger's metrics until every received record is stored or dropped in every sink and no
    queue or spool holds anything; return the final counts (whatever they are after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            c = delivery_counts(metrics_port)
        except (urllib.error.URLError, OSError):
            c = None
        if c is not None:
            done = all(w + c.dropped >= c.received for w in c.written.values()) and c.queued == 0
            if done or time.monotonic() > deadline:
                if not done:
                    log.warning("logger on metrics port %d not drained after %.0fs: %s", metrics_port, timeout, c)
                return c
        elif time.monotonic() > deadline:
            raise RuntimeError(f"logger metrics on port {metrics_port} unreachable")
        time.sleep(0.05)


def measure(
    target: Target,
    upstream: Proc,
    upstream_kind: str,
    path: str,
    script: Path,
    concurrency: int,
    seconds: float,
    rep: int,
    threads: int,
) -> Measurement:
    """Load ``target`` for ``seconds`` s with ``concurrency`` connections; for a logger, wait until what it
    accepted is delivered, so the CPU figure includes the sinks' work."""
    before = wait_drained(target.metrics_port) if target.metrics_port else None
    proxy_cpu0 = target.proxy.cpu() if target.proxy else None
    up_cpu0 = upstream.cpu()
    result = wrk.run(target.url + path, script, concurrency, seconds, threads)
    t_end = time.monotonic()
    logged = dropped = None
    drain = None
    if target.metrics_port is not None and before is not None:
        after = wait_drained(target.metrics_port)
        drain = time.monotonic() - t_end
        logged = round(after.logged - before.logged)
        dropped = round(after.dropped - before.dropped)
    proxy_cpu = target.proxy.cpu() - proxy_cpu0 if target.proxy and proxy_cpu0 is not None else None
    return Measurement(
        upstream=upstream_kind,
        concurrency=concurrency,
        rep=rep,
        variant=target.variant,
        requests=result.requests,
        errors=result.errors,
        rps=result.rps,
        p50_ms=result.p50_ms,
        p90_ms=result.p90_ms,
        p99_ms=result.p99_ms,
        p999_ms=result.p999_ms,
        mean_ms=result.mean_ms,
        proxy_cpu_s=proxy_cpu,
        upstream_cpu_s=upstream.cpu() - up_cpu0,
        logged=logged,
        dropped=dropped,
        drain_s=drain,
    )
