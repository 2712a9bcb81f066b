"""The consumers benchmark: its rows, ratios and target line (pure), and a quick run against the real broker and
node (indexer vs parallel_bulk vs streaming_bulk, then the sidecar's CPU with and without the Elasticsearch sink)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.consumers import report
from bench.consumers.indexing import Setup
from bench.consumers.report import INDEXER, KAFKA_ES, KAFKA_ONLY, PARALLEL_BULK, STREAMING_BULK, Run
from bench.consumers.run import parse_args
from bench.consumers.sidecar import SidecarSetup
from tests.bench.test_logger_stats import _m


def _runs(indexer_s: float, indexer_cpu: float) -> list[Run]:
    out = []
    for rep, (pb, sb) in enumerate([(10.0, 12.0), (11.0, 13.0), (30.0, 14.0)]):  # rep 2: a slow parallel_bulk
        out.append(Run(PARALLEL_BULK, rep, 1000, 1000, 0, pb, 2.0, 4.0))
        out.append(Run(STREAMING_BULK, rep, 1000, 1000, 0, sb, 1.8))
        out.append(Run(INDEXER, rep, 1000, 1000, 0, indexer_s, indexer_cpu))
    return out


def test_rows_are_medians_with_ratios_against_parallel_bulk() -> None:
    rows = {r.variant: r for r in report.aggregate(_runs(20.0, 2.2), expected=1000)}
    assert list(rows) == [INDEXER, PARALLEL_BULK, STREAMING_BULK]
    pb, idx = rows[PARALLEL_BULK], rows[INDEXER]
    assert pb.docs_per_s == pytest.approx(1000 / 11.0)  # median of 100, 90.9, 33.3 docs/s
    assert pb.cpu_ms_per_doc == pytest.approx(2.0) and pb.node_cpu_ms_per_doc == pytest.approx(4.0)
    assert idx.docs_per_s_vs_baseline == pytest.approx(11.0 / 20.0)
    assert idx.cpu_vs_baseline == pytest.approx(1.1)
    assert math.isnan(idx.node_cpu_ms_per_doc) and idx.to_dict()["node_cpu_ms_per_doc"] is None
    assert all(r.complete for r in rows.values())


def test_target_needs_both_rate_and_cpu_and_every_document() -> None:
    slow = report.aggregate(_runs(20.0, 1.5), expected=1000)
    assert [v.status for v in report.verdicts(slow)] == ["MISS", "PASS"]
    assert "NOT MET (docs/s 0.55x, cpu per document 0.75x)" in report.target_line(report.verdicts(slow), slow)
    fast = report.aggregate(_runs(5.0, 1.5), expected=1000)
    assert "): MET (docs/s 2.20x" in report.target_line(report.verdicts(fast), fast)
    lossy = report.aggregate([*_runs(5.0, 1.5), Run(INDEXER, 3, 999, 999, 1, 5.0, 1.5)], expected=1000)
    line = report.target_line(report.verdicts(lossy), lossy)
    assert "NOT MET" in line and "incomplete runs: indexer" in line
    no_baseline = report.aggregate([r for r in _runs(5.0, 1.5) if r.variant != PARALLEL_BULK], expected=1000)
    assert "n/a" in report.target_line(report.verdicts(no_baseline), no_baseline)


def test_table_prints_a_line_per_variant() -> None:
    text = report.table(report.aggregate(_runs(20.0, 2.2), expected=1000))
    lines = text.splitlines()
    assert len(lines) == 5 and lines[2].startswith("indexer ")
    assert "0.55x" in lines[2] and "1.10x" in lines[2] and "yes" in lines[2]


def test_sidecar_rows_give_cpu_per_request_against_kafka_only() -> None:
    ms = []
    for rep in range(3):
        ms.append(_m(KAFKA_ONLY, rep, 1.0, 2.0, proxy_cpu_s=0.1 * (rep + 1), logged=1000, dropped=0))
        ms.append(_m(KAFKA_ES, rep, 1.0, 2.0, proxy_cpu_s=0.3, logged=990, dropped=0))
    rows = {r.variant: r for r in report.sidecar_rows(ms)}
    assert list(rows) == [KAFKA_ONLY, KAFKA_ES]
    requests = ms[0].requests
    assert rows[KAFKA_ONLY].cpu_us_per_request == pytest.approx(0.2 / requests * 1e6)
    assert rows[KAFKA_ES].cpu_vs_kafka_only == pytest.approx(1.5)
    assert rows[KAFKA_ES].lost == 3 * max(0, requests - 990)
    assert "the elasticsearch:// sink in the sidecar adds" in report.sidecar_table(list(rows.values()))


def test_each_run_gets_its_own_group_and_index_and_the_sidecar_its_sinks(tmp_path: Path) -> None:
    setup = Setup("127.0.0.1:1", "127.0.0.1:2", "topic", 10, sink_options="chunk_size=2000")
    a, b = setup.settings(INDEXER, 0), setup.settings(INDEXER, 0)
    assert a.group != b.group and a.sink != b.sink
    assert a.sink[0].startswith("elasticsearch://127.0.0.1:2?index=bench-consumers-indexer-0-")
    assert a.sink[0].endswith("&chunk_size=2000") and a.metrics_port == 0 and a.batch == 500
    side = SidecarSetup("127.0.0.1:1", "127.0.0.1:2", topic="t", index="i")
    assert side.sinks(KAFKA_ONLY, tmp_path) == ["kafka://127.0.0.1:1?topic=t"]
    assert side.sinks(KAFKA_ES, tmp_path) == ["kafka://127.0.0.1:1?topic=t", "elasticsearch://127.0.0.1:2?index=i"]


def test_quick_caps_the_work_and_bad_options_are_refused() -> None:
    args = parse_args(["--quick"])
    assert (args.records, args.repetitions, args.warmup_records) == (2_000, 1, 500)
    assert (args.duration, args.sidecar_repetitions) == (2.0, 1)
    assert args.variants == [INDEXER, PARALLEL_BULK, STREAMING_BULK]
    for bad in (["--variants", "indexer,bulk"], ["--records", "0"], ["--kafka", "10.0.0.1:9092"]):
        with pytest.raises(SystemExit):
            parse_args(bad)


@pytest.mark.kafka
@pytest.mark.elasticsearch
@pytest.mark.slow
def test_quick_run_indexes_everything_and_measures_the_sidecar(
    kafka_bootstrap: str, elasticsearch_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.consumers.run import main

    workdir, output = tmp_path / "work", tmp_path / "result.json"
    es = elasticsearch_url.removeprefix("http://")
    argv = ["--quick", "--kafka", kafka_bootstrap, "--elasticsearch", es, "--workdir", str(workdir)]
    assert main([*argv, "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    result = json.loads(output.read_text())
    rows = {r["variant"]: r for r in result["rows"]}
    assert set(rows) == {INDEXER, PARALLEL_BULK, STREAMING_BULK}
    for row in rows.values():
        assert row["complete"] and row["docs"] == 2_000 and row["runs"] == 1
        assert 100 < row["docs_per_s"] < 1_000_000 and 0.001 < row["cpu_ms_per_doc"] < 100
    assert rows[PARALLEL_BULK]["docs_per_s_vs_baseline"] == pytest.approx(1.0)
    assert [v["target"] for v in result["verdicts"]] == ["docs/s", "cpu per document"]
    assert all(v["status"] in ("PASS", "MISS") for v in result["verdicts"])
    assert result["target"].startswith("target (>= 1.0x parallel_bulk docs/s at <= its cpu/doc): ")
    assert result["target"] in printed and "indexer / parallel_bulk" in printed
    side = {r["variant"]: r for r in result["sidecar"]}
    assert set(side) == {KAFKA_ONLY, KAFKA_ES}
    for row in side.values():
        assert row["requests"] > 0 and row["lost"] == 0 and 1 < row["cpu_us_per_request"] < 100_000
    assert "the elasticsearch:// sink in the sidecar adds" in printed
    assert {p.name for p in (workdir / "logs").iterdir()} == {
        "upstream-iris.log",
        f"{KAFKA_ONLY}.log",
        f"{KAFKA_ES}.log",
    }
