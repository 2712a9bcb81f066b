"""Timed detections into rows, ratios against ``direct`` and MLServer, the targets and the tables (pure code)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.logger.stats import Verdict, fmt, mean, median, paired_added, percentile, ratio

DIRECT = "direct"
INFERWATCH_V2 = "inferwatch-v2"
INFERWATCH_V2_BINARY = "inferwatch-v2-binary"
INFERWATCH_SELDON = "inferwatch-seldon"
MLSERVER = "mlserver-v2"
VARIANTS = (DIRECT, INFERWATCH_V2, INFERWATCH_V2_BINARY, INFERWATCH_SELDON, MLSERVER)
INFERWATCH = (INFERWATCH_V2, INFERWATCH_V2_BINARY, INFERWATCH_SELDON)

DIRECT_LIMIT = 1.1
"""inferwatch's p50 end-to-end latency at most this many times the in-process ``predict``'s p50."""
MLSERVER_LIMIT = 1.0
"""inferwatch's p50 at most this many times MLServer's (faster than MLServer)."""


@dataclass(frozen=True)
class Timing:
    """One batch through one variant: seconds (client side for servers) and the verdict it got back."""

    case: str
    variant: str
    batch: int
    seconds: float
    cpu_seconds: float
    """CPU time of the process that ran the detector (this one for ``direct``, the server's otherwise), all
    threads, from ``/proc`` (clock-tick resolution: meaningful as a mean over many batches)."""
    drifted: bool
    """Whether the batch was drawn drifted (the truth)."""
    is_drift: int | None
    """The detector's verdict as the variant returned it."""


@dataclass(frozen=True)
class Row:
    """Milliseconds per batch of one (case, variant) and how its verdicts compare."""

    case: str
    variant: str
    batches: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    added_p50_ms: float
    """Median over batches of (this variant's ms - direct's ms on the same batch)."""
    cpu_ms: float
    """Mean CPU ms per batch of the process that ran the detector."""
    p50_vs_direct: float
    mean_vs_direct: float
    cpu_vs_direct: float
    p50_vs_mlserver: float
    mean_vs_mlserver: float
    cpu_vs_mlserver: float
    correct: int
    """Verdicts equal to the truth (drifted or not)."""
    same_as_direct: int
    """Verdicts equal to ``direct``'s on the same batch (the same detector on the same data)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def aggregate(timings: Sequence[Timing]) -> list[Row]:
    """One row per (case, variant), in ``VARIANTS`` order; ratios against the same case's direct and MLServer."""
    groups: dict[tuple[str, str], list[Timing]] = {}
    for t in timings:
        groups.setdefault((t.case, t.variant), []).append(t)
    ms = {key: [t.seconds * 1e3 for t in ts] for key, ts in groups.items()}
    p50 = {key: median(v) for key, v in ms.items()}
    means = {key: mean(v) for key, v in ms.items()}
    cpu = {key: mean([t.cpu_seconds * 1e3 for t in ts]) for key, ts in groups.items()}
    order = {v: i for i, v in enumerate(VARIANTS)}
    rows = []
    for (case, variant), ts in sorted(groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))):
        key, direct, peer = (case, variant), (case, DIRECT), (case, MLSERVER)
        base = {t.batch: t for t in groups.get(direct, [])}
        paired = [t for t in ts if t.batch in base]
        rows.append(
            Row(
                case=case,
                variant=variant,
                batches=len(ts),
                p50_ms=p50[key],
                p95_ms=percentile(ms[key], 95),
                mean_ms=means[key],
                added_p50_ms=paired_added(
                    [t.seconds * 1e3 for t in paired], [base[t.batch].seconds * 1e3 for t in paired]
                ),
                cpu_ms=cpu[key],
                p50_vs_direct=ratio(p50[key], p50.get(direct, math.nan)),
                mean_vs_direct=ratio(means[key], means.get(direct, math.nan)),
                cpu_vs_direct=ratio(cpu[key], cpu.get(direct, math.nan)),
                p50_vs_mlserver=ratio(p50[key], p50.get(peer, math.nan)),
                mean_vs_mlserver=ratio(means[key], means.get(peer, math.nan)),
                cpu_vs_mlserver=ratio(cpu[key], cpu.get(peer, math.nan)),
                correct=sum(1 for t in ts if t.is_drift is not None and bool(t.is_drift) == t.drifted),
                same_as_direct=sum(1 for t in paired if base[t.batch].is_drift == t.is_drift),
            )
        )
    return rows


def verdicts(rows: Sequence[Row], mlserver_unavailable: str | None = None) -> list[Verdict]:
    """Per case and inferwatch variant: p50 / direct p50 <= 1.1; p50 / MLServer p50 <= 1 (unless MLServer was
    not run: then that target is left out and the reason printed apart)."""
    out = []
    for r in rows:
        if r.variant not in INFERWATCH:
            continue
        scope = f"{r.case} {r.variant}"
        out.append(Verdict("p50 / direct p50", scope, r.p50_vs_direct, DIRECT_LIMIT))
        if mlserver_unavailable is None:
            out.append(Verdict("p50 / mlserver-v2 p50", scope, r.p50_vs_mlserver, MLSERVER_LIMIT))
    return out


def table(rows: Sequence[Row]) -> str:
    """Fixed-width table: ms per batch, paired added ms, CPU ms per batch, ratios vs direct and vs MLServer,
    verdict agreement."""
    head = (
        f"{'case':<4} {'variant':<20} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'+p50 ms':>8} "
        f"{'cpu ms':>7} {'p50/direct':>10} {'mean/direct':>11} {'cpu/direct':>10} {'p50/mlsrv':>9} "
        f"{'cpu/mlsrv':>9} {'correct':>7} {'=direct':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.case:<4} {r.variant:<20} {r.batches:>4} {fmt(r.p50_ms, '.2f'):>8} {fmt(r.p95_ms, '.2f'):>8} "
            f"{fmt(r.mean_ms, '.2f'):>8} {fmt(r.added_p50_ms, '+.2f'):>8} {fmt(r.cpu_ms, '.1f'):>7} "
            f"{fmt(r.p50_vs_direct, '.3f'):>10} {fmt(r.mean_vs_direct, '.3f'):>11} {fmt(r.cpu_vs_direct, '.3f'):>10} "
            f"{fmt(r.p50_vs_mlserver, '.3f'):>9} {fmt(r.cpu_vs_mlserver, '.3f'):>9} "
            f"{f'{r.correct}/{r.batches}':>7} {f'{r.same_as_direct}/{r.batches}':>7}"
        )
    return "\n".join(lines)


STATUS_WORDS = {"PASS": "met", "MISS": "missed", "n/a": "n/a"}


def verdict_table(vs: Sequence[Verdict]) -> str:
    """Targets as ``met|missed  target  scope  value (limit)``."""
    return "\n".join(
        f"{STATUS_WORDS[v.status]:<6} {v.target:<22} {v.scope:<25} {fmt(v.value, '.3f'):>6}x  (target <= {v.limit:g}x)"
        for v in vs
    )
