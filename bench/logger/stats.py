"""Small statistics used by the logger benchmark: medians, paired differences, ratios and targets."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation, as numpy's default); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean; NaN for no values."""
    return statistics.fmean(values) if values else math.nan


def fmt(value: float, spec: str) -> str:
    """``value`` formatted for a table, ``-`` when it is NaN (not measured)."""
    return "-" if math.isnan(value) else format(value, spec)


def median(values: Sequence[float]) -> float:
    """Median of ``values``; NaN for an empty sequence (a variant that never ran)."""
    return statistics.median(values) if values else math.nan


def paired_added(subject: Sequence[float], baseline: Sequence[float]) -> float:
    """Median over repetitions of ``subject[i] - baseline[i]``: the latency a hop adds, measured in the same
    repetition as the direct call so slow drift of the machine's load cancels out."""
    if len(subject) != len(baseline):
        raise ValueError(f"paired samples differ in length: {len(subject)} vs {len(baseline)}")
    return median([s - b for s, b in zip(subject, baseline, strict=True)])


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; NaN when the denominator is not positive (e.g. nginx added nothing
    measurable) or either side is NaN, so no target is judged on a meaningless ratio."""
    if math.isnan(numerator) or math.isnan(denominator) or denominator <= 0:
        return math.nan
    return numerator / denominator


def relative_change(new: float, old: float) -> float:
    """``(new - old) / old``; NaN when ``old`` is not positive."""
    if math.isnan(new) or math.isnan(old) or old <= 0:
        return math.nan
    return (new - old) / old


@dataclass(frozen=True)
class Verdict:
    """One target checked against one measured figure."""

    target: str
    scope: str
    value: float
    limit: float
    higher_is_better: bool = False

    @property
    def status(self) -> str:
        """``PASS``, ``MISS``, or ``n/a`` when the figure could not be computed."""
        if math.isnan(self.value):
            return "n/a"
        ok = self.value >= self.limit if self.higher_is_better else self.value <= self.limit
        return "PASS" if ok else "MISS"

    def to_dict(self) -> dict[str, object]:
        value = None if math.isnan(self.value) else round(self.value, 4)
        return {"target": self.target, "scope": self.scope, "value": value, "limit": self.limit, "status": self.status}
