"""Indexing runs and sidecar measurements into rows, ratios against ``parallel_bulk``, the target and the tables
(pure code)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.logger.measure import Measurement
from bench.logger.stats import Verdict, fmt, median, ratio

INDEXER = "indexer"
PARALLEL_BULK = "parallel_bulk"
STREAMING_BULK = "streaming_bulk"
VARIANTS = (INDEXER, PARALLEL_BULK, STREAMING_BULK)
BASELINE = PARALLEL_BULK

KAFKA_ONLY = "logger-kafka"
KAFKA_ES = "logger-kafka-es"
SIDECAR_VARIANTS = (KAFKA_ONLY, KAFKA_ES)


@dataclass(frozen=True)
class Run:
    """One variant reading the whole topic into a fresh index, once."""

    variant: str
    rep: int
    docs: int
    """Documents the bulk responses acknowledged."""
    indexed: int
    """Documents found in the index afterwards (refresh + count): must equal ``docs``."""
    failed: int
    seconds: float
    cpu_seconds: float
    """CPU time of this process (every thread: consumer, decoding, document building, bulk, HTTP) over the run."""
    node_cpu_seconds: float | None = None
    """CPU time of the Elasticsearch node over the run, when this benchmark started it (its pid is known)."""

    @property
    def docs_per_s(self) -> float:
        return self.docs / self.seconds if self.seconds > 0 else math.nan

    @property
    def cpu_ms_per_doc(self) -> float:
        return self.cpu_seconds / self.docs * 1e3 if self.docs else math.nan

    @property
    def node_cpu_ms_per_doc(self) -> float:
        return self.node_cpu_seconds / self.docs * 1e3 if self.docs and self.node_cpu_seconds is not None else math.nan

    def to_dict(self) -> dict[str, Any]:
        out = {**asdict(self), "docs_per_s": self.docs_per_s, "cpu_ms_per_doc": self.cpu_ms_per_doc}
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


@dataclass(frozen=True)
class Row:
    """Medians over the repetitions of one variant, and its ratios against ``parallel_bulk``."""

    variant: str
    runs: int
    docs: int
    complete: bool
    """Every run acknowledged and stored every document, none failed."""
    docs_per_s: float
    cpu_ms_per_doc: float
    node_cpu_ms_per_doc: float
    docs_per_s_vs_baseline: float
    cpu_vs_baseline: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def aggregate(runs: Sequence[Run], expected: int) -> list[Row]:
    """One row per variant in ``VARIANTS`` order (others after), medians over its runs; ratios against the
    baseline's medians. ``expected``: documents each run had to index."""
    groups: dict[str, list[Run]] = {}
    for r in runs:
        groups.setdefault(r.variant, []).append(r)
    rate = {v: median([r.docs_per_s for r in rs]) for v, rs in groups.items()}
    cpu = {v: median([r.cpu_ms_per_doc for r in rs]) for v, rs in groups.items()}
    order = {v: i for i, v in enumerate(VARIANTS)}
    rows = []
    for variant, rs in sorted(groups.items(), key=lambda kv: order.get(kv[0], len(order))):
        node = [r.node_cpu_ms_per_doc for r in rs if not math.isnan(r.node_cpu_ms_per_doc)]
        rows.append(
            Row(
                variant=variant,
                runs=len(rs),
                docs=min(r.docs for r in rs),
                complete=all(r.docs == r.indexed == expected and r.failed == 0 for r in rs),
                docs_per_s=rate[variant],
                cpu_ms_per_doc=cpu[variant],
                node_cpu_ms_per_doc=median(node),
                docs_per_s_vs_baseline=ratio(rate[variant], rate.get(BASELINE, math.nan)),
                cpu_vs_baseline=ratio(cpu[variant], cpu.get(BASELINE, math.nan)),
            )
        )
    return rows


def verdicts(rows: Sequence[Row]) -> list[Verdict]:
    """The issue's target for the indexer: >= 1.0x parallel_bulk's docs/s, at <= its CPU per document."""
    row = next((r for r in rows if r.variant == INDEXER), None)
    if row is None:
        return []
    scope = f"{INDEXER} / {BASELINE}"
    return [
        Verdict("docs/s", scope, row.docs_per_s_vs_baseline, 1.0, higher_is_better=True),
        Verdict("cpu per document", scope, row.cpu_vs_baseline, 1.0),
    ]


def target_line(vs: Sequence[Verdict], rows: Sequence[Row]) -> str:
    """One sentence: is the target met, and is every run complete (a fast run that lost documents is no PASS)."""
    incomplete = [r.variant for r in rows if not r.complete]
    if not vs or any(v.status == "n/a" for v in vs):
        return "target (>= 1.0x parallel_bulk docs/s at <= its cpu/doc): n/a (a variant did not run)"
    met = all(v.status == "PASS" for v in vs) and INDEXER not in incomplete
    words = "MET" if met else "NOT MET"
    detail = ", ".join(f"{v.target} {fmt(v.value, '.2f')}x" for v in vs)
    extra = f"; incomplete runs: {', '.join(incomplete)}" if incomplete else ""
    return f"target (>= 1.0x parallel_bulk docs/s at <= its cpu/doc): {words} ({detail}){extra}"


def table(rows: Sequence[Row]) -> str:
    """Fixed-width table of the indexing rows."""
    head = (
        f"{'variant':<15} {'runs':>4} {'docs':>7} {'all in':>6} {'docs/s':>8} {'cpu ms/doc':>10} "
        f"{'es cpu ms/doc':>13} {'docs/s vs pb':>12} {'cpu vs pb':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.variant:<15} {r.runs:>4} {r.docs:>7} {'yes' if r.complete else 'NO':>6} "
            f"{fmt(r.docs_per_s, ',.0f'):>8} "
            f"{fmt(r.cpu_ms_per_doc, '.3f'):>10} {fmt(r.node_cpu_ms_per_doc, '.3f'):>13} "
            f"{fmt(r.docs_per_s_vs_baseline, '.2f'):>11}x {fmt(r.cpu_vs_baseline, '.2f'):>8}x"
        )
    return "\n".join(lines)


def verdict_table(vs: Sequence[Verdict]) -> str:
    return "\n".join(
        f"{v.status:<4}  {v.target:<17} {v.scope:<26} {fmt(v.value, '.3f'):>6}x  "
        f"(target {'>=' if v.higher_is_better else '<='} {v.limit:g}x)"
        for v in vs
    )


@dataclass(frozen=True)
class SidecarRow:
    """The logger's CPU per request with one set of sinks: medians over the repetitions."""

    variant: str
    runs: int
    requests: int
    """Requests of all its runs together."""
    rps: float
    cpu_us_per_request: float
    lost: int
    """Requests answered but not stored in every sink, over all its runs."""
    cpu_vs_kafka_only: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def sidecar_rows(ms: Sequence[Measurement]) -> list[SidecarRow]:
    """One row per sidecar variant (``SIDECAR_VARIANTS`` order), CPU ratio against the Kafka-only logger."""
    groups: dict[str, list[Measurement]] = {}
    for m in ms:
        groups.setdefault(m.variant, []).append(m)
    cpu = {v: median([m.cpu_us_per_request or math.nan for m in g]) for v, g in groups.items()}
    order = {v: i for i, v in enumerate(SIDECAR_VARIANTS)}
    rows = []
    for variant, g in sorted(groups.items(), key=lambda kv: order.get(kv[0], len(order))):
        rows.append(
            SidecarRow(
                variant=variant,
                runs=len(g),
                requests=sum(m.requests for m in g),
                rps=median([m.rps for m in g]),
                cpu_us_per_request=cpu[variant],
                lost=sum(max(0, m.requests - (m.logged or 0)) for m in g),
                cpu_vs_kafka_only=ratio(cpu[variant], cpu.get(KAFKA_ONLY, math.nan)),
            )
        )
    return rows


def sidecar_table(rows: Sequence[SidecarRow]) -> str:
    head = (
        f"{'logger sinks':<16} {'runs':>4} {'requests':>9} {'req/s':>7} {'cpu us/req':>10} {'vs kafka':>8} {'lost':>5}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.variant:<16} {r.runs:>4} {r.requests:>9,} {fmt(r.rps, ',.0f'):>7} "
            f"{fmt(r.cpu_us_per_request, '.1f'):>10} "
            f"{fmt(r.cpu_vs_kafka_only, '.2f'):>7}x {r.lost:>5}"
        )
    by = {r.variant: r for r in rows}
    if KAFKA_ONLY in by and KAFKA_ES in by:
        extra = by[KAFKA_ES].cpu_us_per_request - by[KAFKA_ONLY].cpu_us_per_request
        lines.append(f"the elasticsearch:// sink in the sidecar adds {fmt(extra, '+.1f')} cpu us per logged request")
    return "\n".join(lines)
