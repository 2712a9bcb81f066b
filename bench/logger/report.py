"""Aggregating repetitions into medians, the table, the ratios against nginx and the targets."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.logger.measure import Measurement
from bench.logger.stats import Verdict, fmt, median, paired_added, ratio, relative_change
from bench.logger.variants import BASELINE, KAFKA_CLIENTS, REFERENCE

P50_LIMIT = 2.0
"""Logger-added p50 at most this many times nginx-added p50."""
P99_LIMIT = 1.5
"""Logger-added p99 at c=32 at most this many times nginx-added p99."""
P99_CONCURRENCY = 32
SINKS_P99_LIMIT = 0.10
"""Sinks on vs off may move the p99 by at most this fraction."""
PER_CORE_LIMIT = 5000.0
"""Logged requests per CPU-second of the logger with both sinks on."""
SINKS_ON, SINKS_OFF = "logger-kafka-es", "logger-off"


@dataclass(frozen=True)
class Row:
    """Medians over the repetitions of one (upstream, concurrency, variant)."""

    upstream: str
    concurrency: int
    variant: str
    reps: int
    rps: float
    p50_ms: float
    p99_ms: float
    added_p50_ms: float
    added_p99_ms: float
    cpu_us_per_request: float
    logged_per_cpu_s: float
    """Records stored in every sink per CPU-second of the logger (loggers only)."""
    errors: int
    lost: int
    """Requests answered by the logger but not stored in every sink (loggers that log)."""

    def to_dict(self) -> dict[str, object]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.__dict__.items()}


def _group(ms: Iterable[Measurement]) -> dict[tuple[str, int, str], list[Measurement]]:
    groups: dict[tuple[str, int, str], list[Measurement]] = {}
    for m in ms:
        groups.setdefault((m.upstream, m.concurrency, m.variant), []).append(m)
    for g in groups.values():
        g.sort(key=lambda m: m.rep)
    return groups


def aggregate(measurements: Sequence[Measurement]) -> list[Row]:
    """One row per (upstream, concurrency, variant); added latency is paired with ``direct`` per rep."""
    groups = _group(measurements)
    rows = []
    for (up, c, variant), ms in groups.items():
        base = {m.rep: m for m in groups.get((up, c, BASELINE), [])}
        paired = [m for m in ms if m.rep in base]
        cpu = [m.cpu_us_per_request for m in ms if m.cpu_us_per_request is not None]
        logged = [m for m in ms if m.logged is not None and m.proxy_cpu_s]
        logs_at_all = variant.startswith("logger-") and variant != SINKS_OFF
        rows.append(
            Row(
                upstream=up,
                concurrency=c,
                variant=variant,
                reps=len(ms),
                rps=median([m.rps for m in ms]),
                p50_ms=median([m.p50_ms for m in ms]),
                p99_ms=median([m.p99_ms for m in ms]),
                added_p50_ms=paired_added([m.p50_ms for m in paired], [base[m.rep].p50_ms for m in paired]),
                added_p99_ms=paired_added([m.p99_ms for m in paired], [base[m.rep].p99_ms for m in paired]),
                cpu_us_per_request=median(cpu),
                logged_per_cpu_s=median([(m.logged or 0) / (m.proxy_cpu_s or 1) for m in logged])
                if logs_at_all
                else math.nan,
                errors=sum(m.errors for m in ms),
                lost=sum(max(0, m.requests - (m.logged or 0)) for m in ms) if logs_at_all else 0,
            )
        )
    order = {v: i for i, v in enumerate((BASELINE, REFERENCE, SINKS_OFF, "logger-sqlite", *KAFKA_CLIENTS))}
    rows.sort(key=lambda r: (r.upstream, r.concurrency, order.get(r.variant, 99)))
    return rows


def verdicts(rows: Sequence[Row]) -> list[Verdict]:
    """Every target checked for every logger variant, upstream and concurrency that was measured."""
    by = {(r.upstream, r.concurrency, r.variant): r for r in rows}
    out: list[Verdict] = []
    for r in rows:
        if not r.variant.startswith("logger-"):
            continue
        scope = f"{r.upstream} c={r.concurrency} {r.variant}"
        ng = by.get((r.upstream, r.concurrency, REFERENCE))
        if ng is not None:
            out.append(Verdict("added p50 / nginx added p50", scope, ratio(r.added_p50_ms, ng.added_p50_ms), P50_LIMIT))
            if r.concurrency == P99_CONCURRENCY:
                out.append(
                    Verdict("added p99 / nginx added p99", scope, ratio(r.added_p99_ms, ng.added_p99_ms), P99_LIMIT)
                )
        if r.variant in KAFKA_CLIENTS:  # both network sinks on (SINKS_ON, or it with confluent-kafka)
            off = by.get((r.upstream, r.concurrency, SINKS_OFF))
            if off is not None:
                change = abs(relative_change(r.p99_ms, off.p99_ms))
                out.append(Verdict("|p99 sinks on - off| / p99 off", scope, change, SINKS_P99_LIMIT))
            if r.concurrency == max(c for (u, c, _v) in by if u == r.upstream):
                out.append(Verdict("logged req/s per logger core", scope, r.logged_per_cpu_s, PER_CORE_LIMIT, True))
    return out


def table(rows: Sequence[Row]) -> str:
    """A fixed-width table of the medians."""
    head = (
        f"{'upstream':<8} {'c':>3} {'variant':<25} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'+p50 ms':>8} {'+p99 ms':>8} {'cpu us/req':>10} {'logged/cpu-s':>12} {'err':>4} {'lost':>5}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.upstream:<8} {r.concurrency:>3} {r.variant:<25} {fmt(r.rps, ',.0f'):>8} {fmt(r.p50_ms, '.3f'):>8} "
            f"{fmt(r.p99_ms, '.3f'):>8} {fmt(r.added_p50_ms, '+.3f'):>8} {fmt(r.added_p99_ms, '+.3f'):>8} "
            f"{fmt(r.cpu_us_per_request, '.0f'):>10} {fmt(r.logged_per_cpu_s, ',.0f'):>12} {r.errors:>4} {r.lost:>5}"
        )
    return "\n".join(lines)


def verdict_table(vs: Sequence[Verdict]) -> str:
    """Targets as ``STATUS  target  scope  value (limit)``."""
    lines = []
    for v in vs:
        spec = ",.0f" if v.higher_is_better else ".2f"
        sign = ">=" if v.higher_is_better else "<="
        lines.append(f"{v.status:<5} {v.target:<32} {v.scope:<34} {fmt(v.value, spec):>8}  (target {sign} {v.limit:g})")
    return "\n".join(lines)
