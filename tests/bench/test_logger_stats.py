"""The logger benchmark's helpers: medians, paired added latency, ratios, verdicts, wrk output, aggregation."""

from __future__ import annotations

import math

import pytest

from bench.logger import report, wrk
from bench.logger.measure import Measurement
from bench.logger.stats import Verdict, median, paired_added, ratio, relative_change


def test_median_and_empty() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([1.0, 2.0, 3.0, 10.0]) == 2.5
    assert math.isnan(median([]))


def test_paired_added_is_the_median_of_per_rep_differences() -> None:
    # per-rep differences 1, 2, 10: median 2 (the difference of medians would be 5 - 2 = 3)
    assert paired_added([2.0, 5.0, 13.0], [1.0, 3.0, 3.0]) == 2.0
    with pytest.raises(ValueError):
        paired_added([1.0], [1.0, 2.0])


def test_ratio_and_relative_change_refuse_meaningless_denominators() -> None:
    assert ratio(0.3, 0.1) == pytest.approx(3.0)
    assert math.isnan(ratio(0.3, 0.0))
    assert math.isnan(ratio(0.3, -0.01))
    assert math.isnan(ratio(math.nan, 1.0))
    assert relative_change(11.0, 10.0) == pytest.approx(0.1)
    assert relative_change(9.0, 10.0) == pytest.approx(-0.1)
    assert math.isnan(relative_change(1.0, 0.0))


def test_verdict_status() -> None:
    assert Verdict("t", "s", 1.9, 2.0).status == "PASS"
    assert Verdict("t", "s", 2.1, 2.0).status == "MISS"
    assert Verdict("t", "s", 6000.0, 5000.0, higher_is_better=True).status == "PASS"
    assert Verdict("t", "s", 4000.0, 5000.0, higher_is_better=True).status == "MISS"
    assert Verdict("t", "s", math.nan, 2.0).status == "n/a"
    assert Verdict("t", "s", math.nan, 2.0).to_dict()["value"] is None


def test_wrk_output_is_parsed() -> None:
    out = (
        "Running 1s test @ http://127.0.0.1:1/x\n"
        'WRKJSON {"requests":2000,"duration_us":2000000,"errors_connect":0,"errors_read":1,"errors_write":0,'
        '"errors_status":2,"errors_timeout":0,"p50_us":450.0,"p90_us":800.0,"p99_us":1500.0,"p999_us":3000.0,'
        '"mean_us":500.5,"max_us":4000.0}\n'
    )
    r = wrk.parse(out)
    assert (r.requests, r.errors) == (2000, 3)
    assert r.rps == pytest.approx(1000.0)
    assert (r.p50_ms, r.p99_ms) == pytest.approx((0.45, 1.5))
    with pytest.raises(ValueError):
        wrk.parse("no result here")


def _m(variant: str, rep: int, p50: float, p99: float, c: int = 32, **kw: float | int | None) -> Measurement:
    base: dict[str, float | int | None] = {
        "requests": 1000,
        "errors": 0,
        "rps": 1000.0,
        "p90_ms": p99,
        "p999_ms": p99,
        "mean_ms": p50,
        "proxy_cpu_s": None,
        "upstream_cpu_s": 0.01,
        "logged": None,
        "dropped": None,
        "drain_s": None,
    }
    base.update(kw)
    return Measurement(upstream="minimal", concurrency=c, rep=rep, variant=variant, p50_ms=p50, p99_ms=p99, **base)  # type: ignore[arg-type]


def test_aggregate_and_verdicts() -> None:
    ms = []
    for rep in range(3):
        ms.append(_m("direct", rep, 1.0, 2.0))
        ms.append(_m("nginx", rep, 1.1, 2.2, proxy_cpu_s=0.02))
        ms.append(_m("logger-off", rep, 1.15, 2.5, proxy_cpu_s=0.2, logged=0, dropped=0))
        # sinks on: 0.2 s CPU for 1000 stored records = 5,000 per CPU-second; p99 3.0 vs 2.5 = +20 %
        ms.append(_m("logger-kafka-es", rep, 1.5, 3.0, proxy_cpu_s=0.2, logged=1000, dropped=0))
    rows = {r.variant: r for r in report.aggregate(ms)}
    assert [r.variant for r in report.aggregate(ms)] == ["direct", "nginx", "logger-off", "logger-kafka-es"]
    assert rows["nginx"].added_p50_ms == pytest.approx(0.1)
    assert rows["logger-off"].cpu_us_per_request == pytest.approx(200.0)
    assert rows["logger-kafka-es"].logged_per_cpu_s == pytest.approx(5000.0)
    assert rows["logger-kafka-es"].lost == 0
    got = {(v.target, v.scope.split()[-1]): v for v in report.verdicts(list(rows.values()))}
    assert got[("added p50 / nginx added p50", "logger-off")].value == pytest.approx(1.5)
    assert got[("added p50 / nginx added p50", "logger-off")].status == "PASS"
    assert got[("added p50 / nginx added p50", "logger-kafka-es")].status == "MISS"  # 0.5 / 0.1 = 5
    assert got[("added p99 / nginx added p99", "logger-off")].value == pytest.approx(2.5)
    assert got[("|p99 sinks on - off| / p99 off", "logger-kafka-es")].value == pytest.approx(0.2)
    assert got[("|p99 sinks on - off| / p99 off", "logger-kafka-es")].status == "MISS"
    assert got[("logged req/s per logger core", "logger-kafka-es")].status == "PASS"
    assert "logger-kafka-es" in report.table(list(rows.values()))


def test_lost_counts_requests_not_stored() -> None:
    ms = [_m("direct", 0, 1.0, 2.0), _m("logger-sqlite", 0, 2.0, 4.0, proxy_cpu_s=0.5, logged=900, dropped=100)]
    row = {r.variant: r for r in report.aggregate(ms)}["logger-sqlite"]
    assert row.lost == 100
    assert row.logged_per_cpu_s == pytest.approx(1800.0)


def test_percentile_and_mean_match_numpy() -> None:
    import numpy as np

    from bench.logger.stats import mean, percentile

    values = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0]
    for q in (0, 25, 50, 90, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert mean(values) == pytest.approx(float(np.mean(values)))
    assert math.isnan(percentile([], 50)) and math.isnan(mean([]))
