"""Turning timed explanations into rows, the comparability check, ratios, targets and tables (pure code)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench.logger.stats import Verdict, fmt, mean, percentile, ratio

BASELINE = "in-process"
INFERWATCH = "inferwatch"
INFERWATCH_BATCH = "inferwatch-batch"
MLSERVER = "mlserver"
VARIANTS = (BASELINE, INFERWATCH, INFERWATCH_BATCH, MLSERVER)

IN_PROCESS_LIMIT = 1.1
"""inferwatch's mean time per explanation at most this many times in-process alibi's."""
MLSERVER_LIMIT = 2.0
"""MLServer's alibi-explain runtime's mean time per explanation at least this many times inferwatch's."""
PRECISION_BALLPARK = 0.05
COVERAGE_BALLPARK = 0.10
SHAP_BALLPARK = 0.05
"""Largest |difference| of a SHAP value, relative to the largest |SHAP value|, still 'the same work'."""


@dataclass(frozen=True)
class Timing:
    """One explanation (or one batch request, ``instances`` > 1) of one variant."""

    kind: str
    variant: str
    instance: int
    instances: int
    seconds: float
    model_calls: float | None
    cpu_s: float = math.nan
    """CPU seconds spent on it: this process (in-process) or the explainer + model server processes."""

    @property
    def per_explanation(self) -> float:
        return self.seconds / self.instances


@dataclass(frozen=True)
class Summary:
    """What one explanation says, enough to tell whether two runs did comparable work."""

    kind: str
    variant: str
    instance: int
    anchor: tuple[str, ...] = ()
    precision: float = math.nan
    coverage: float = math.nan
    shap: tuple[float, ...] = ()
    """SHAP values of every class, flattened (KernelShap)."""


def summarize(kind: str, variant: str, instance: int, explanation: dict[str, Any]) -> Summary:
    """The anchor, precision and coverage (anchors) or the SHAP values (KernelShap) of an
    ``Explanation.to_json()`` document, as both inferwatch and in-process alibi produce it."""
    data = explanation.get("data", {})
    if kind == "anchor_tabular":
        return Summary(
            kind,
            variant,
            instance,
            anchor=tuple(str(a) for a in data.get("anchor", [])),
            precision=float(np.mean(data.get("precision", math.nan))),
            coverage=float(np.mean(data.get("coverage", math.nan))),
        )
    values = np.asarray(data.get("shap_values", []), dtype=np.float64).reshape(-1)
    return Summary(kind, variant, instance, shap=tuple(values.tolist()))


@dataclass(frozen=True)
class Row:
    """Seconds per explanation of one (kind, variant), and the model calls each explanation made."""

    kind: str
    variant: str
    explanations: int
    p50_s: float
    p95_s: float
    mean_s: float
    calls_per_explanation: float
    ratio_vs_baseline: float
    """``mean_s`` / the in-process ``mean_s`` of the same kind."""
    cpu_s: float
    """Mean CPU seconds per explanation (every process involved)."""
    cpu_ratio_vs_baseline: float
    """``cpu_s`` / the in-process ``cpu_s``: the work ratio, less sensitive to other load on the machine."""

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def _per_explanation(ts: Sequence[Timing]) -> list[float]:
    """Seconds per explanation; a batch request counts as ``instances`` explanations of ``seconds / instances``."""
    return [t.per_explanation for t in ts for _ in range(t.instances)]


def _cpu(ts: Sequence[Timing]) -> float:
    """CPU seconds per explanation over the timings that measured it."""
    measured = [t for t in ts if not math.isnan(t.cpu_s)]
    n = sum(t.instances for t in measured)
    return sum(t.cpu_s for t in measured) / n if n else math.nan


def aggregate(timings: Sequence[Timing]) -> list[Row]:
    """One row per (kind, variant), in ``VARIANTS`` order, with the ratio of its mean to in-process's."""
    groups: dict[tuple[str, str], list[Timing]] = {}
    for t in timings:
        groups.setdefault((t.kind, t.variant), []).append(t)
    order = {v: i for i, v in enumerate(VARIANTS)}
    rows = []
    for (kind, variant), ts in sorted(groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))):
        per = _per_explanation(ts)
        base = groups.get((kind, BASELINE), [])
        baseline, baseline_cpu = mean(_per_explanation(base)), _cpu(base)
        counted = [t for t in ts if t.model_calls is not None]
        n = sum(t.instances for t in counted)
        rows.append(
            Row(
                kind=kind,
                variant=variant,
                explanations=len(per),
                p50_s=percentile(per, 50),
                p95_s=percentile(per, 95),
                mean_s=mean(per),
                calls_per_explanation=sum(t.model_calls or 0.0 for t in counted) / n if n else math.nan,
                ratio_vs_baseline=ratio(mean(per), baseline),
                cpu_s=_cpu(ts),
                cpu_ratio_vs_baseline=ratio(_cpu(ts), baseline_cpu),
            )
        )
    return rows


@dataclass(frozen=True)
class Check:
    """Whether inferwatch's explanations of one kind are of the same shape as in-process alibi's."""

    kind: str
    variant: str
    pairs: int
    comparable: bool
    detail: str


def compare(summaries: Sequence[Summary], variant: str) -> list[Check]:
    """Per kind: ``variant``'s explanations against in-process alibi's of the same instances."""
    base = {(s.kind, s.instance): s for s in summaries if s.variant == BASELINE}
    checks = []
    for kind in sorted({s.kind for s in summaries if s.variant == variant}):
        pairs = [(base[(s.kind, s.instance)], s) for s in summaries if s.variant == variant and s.kind == kind]
        pairs = [(b, s) for b, s in pairs if (b.kind, b.instance) in base]
        if not pairs:
            continue
        checks.append(
            _anchor_check(kind, variant, pairs) if kind == "anchor_tabular" else _shap_check(kind, variant, pairs)
        )
    return checks


def _anchor_check(kind: str, variant: str, pairs: list[tuple[Summary, Summary]]) -> Check:
    same = sum(1 for b, s in pairs if b.anchor == s.anchor)
    pb, ps = mean([b.precision for b, _ in pairs]), mean([s.precision for _, s in pairs])
    cb, cs = mean([b.coverage for b, _ in pairs]), mean([s.coverage for _, s in pairs])
    ok = abs(pb - ps) <= PRECISION_BALLPARK and abs(cb - cs) <= COVERAGE_BALLPARK
    detail = (
        f"same anchor {same}/{len(pairs)}; mean precision {ps:.3f} vs {pb:.3f} in-process; "
        f"mean coverage {cs:.3f} vs {cb:.3f}"
    )
    return Check(kind, variant, len(pairs), ok, detail)


def _shap_check(kind: str, variant: str, pairs: list[tuple[Summary, Summary]]) -> Check:
    diffs, scale = [], []
    for b, s in pairs:
        if len(b.shap) != len(s.shap) or not b.shap:
            return Check(kind, variant, len(pairs), False, f"instance {s.instance}: SHAP values of different shapes")
        diffs.append(float(np.max(np.abs(np.subtract(b.shap, s.shap)))))
        scale.append(float(np.max(np.abs(b.shap))))
    worst, top = max(diffs), max(scale)
    ok = worst <= SHAP_BALLPARK * top if top > 0 else worst == 0
    detail = f"largest |SHAP difference| {worst:.2e} (largest |SHAP value| {top:.3f}) over {len(pairs)} instances"
    return Check(kind, variant, len(pairs), ok, detail)


def verdicts(rows: Sequence[Row], mlserver_unavailable: str | None) -> list[Verdict]:
    """Per kind: inferwatch (single and batch requests) / in-process ≤ 1.1; MLServer / inferwatch ≥ 2."""
    by = {(r.kind, r.variant): r for r in rows}
    out = []
    for kind in sorted({r.kind for r in rows}):
        for variant in (INFERWATCH, INFERWATCH_BATCH):
            if (row := by.get((kind, variant))) is not None:
                out.append(Verdict(f"{variant} / in-process mean", kind, row.ratio_vs_baseline, IN_PROCESS_LIMIT))
        ours, peer = by.get((kind, INFERWATCH)), by.get((kind, MLSERVER))
        if mlserver_unavailable is None or (ours is not None and peer is not None):
            value = ratio(peer.mean_s, ours.mean_s) if ours and peer else math.nan
            out.append(Verdict("mlserver / inferwatch mean", kind, value, MLSERVER_LIMIT, higher_is_better=True))
    return out


def table(rows: Sequence[Row]) -> str:
    """Fixed-width table: seconds per explanation, model calls per explanation, ratio vs in-process."""
    head = (
        f"{'kind':<15} {'variant':<17} {'n':>4} {'p50 s':>8} {'p95 s':>8} {'mean s':>8} "
        f"{'calls/expl':>10} {'vs in-process':>13} {'cpu s':>7} {'cpu vs in-proc':>14}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.kind:<15} {r.variant:<17} {r.explanations:>4} {fmt(r.p50_s, '.3f'):>8} {fmt(r.p95_s, '.3f'):>8} "
            f"{fmt(r.mean_s, '.3f'):>8} {fmt(r.calls_per_explanation, '.1f'):>10} "
            f"{fmt(r.ratio_vs_baseline, '.2f'):>12}x "
            f"{fmt(r.cpu_s, '.3f'):>7} {fmt(r.cpu_ratio_vs_baseline, '.2f'):>13}x"
        )
    return "\n".join(lines)


def verdict_table(vs: Sequence[Verdict]) -> str:
    """Targets as ``STATUS  target  kind  value (limit)``."""
    lines = []
    for v in vs:
        sign = ">=" if v.higher_is_better else "<="
        lines.append(
            f"{v.status:<5} {v.target:<32} {v.scope:<15} {fmt(v.value, '.2f'):>6}x  (target {sign} {v.limit:g}x)"
        )
    return "\n".join(lines)


def check_table(checks: Sequence[Check]) -> str:
    """One line per kind and variant: ``same work`` or ``DIFFERENT``, and the figures."""
    return "\n".join(
        f"{'same work' if c.comparable else 'DIFFERENT':<9} {c.kind:<15} {c.variant:<17} {c.detail}" for c in checks
    )
