"""The explainer benchmark's pure parts: aggregation, ratios, the comparability check, targets, metrics parsing,
the model file and the MLServer availability reason (no servers started, nothing timed)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import generate_latest

from bench.explainers import report
from bench.explainers.model import fit_model, load_model
from bench.explainers.report import BASELINE, INFERWATCH, INFERWATCH_BATCH, MLSERVER, Summary, Timing, summarize
from bench.explainers.run import parse_args
from bench.explainers.variants import InProcess, instances, mlserver_unavailable, model_calls_from_metrics
from inferwatch.explainers.metrics import ExplainerMetrics
from inferwatch.explainers.reference import load_reference


def _timings() -> list[Timing]:
    return [
        Timing("anchor_tabular", BASELINE, 0, 1, 1.0, 10.0, 0.8),
        Timing("anchor_tabular", BASELINE, 1, 1, 3.0, 30.0, 2.4),
        Timing("anchor_tabular", INFERWATCH, 0, 1, 1.5, 10.0, 1.0),
        Timing("anchor_tabular", INFERWATCH, 1, 1, 2.5, 30.0, 2.6),
        Timing("anchor_tabular", INFERWATCH_BATCH, 0, 2, 6.0, 50.0, 4.0),
    ]


def test_aggregate_counts_a_batch_as_one_explanation_per_instance() -> None:
    rows = {r.variant: r for r in report.aggregate(_timings())}
    assert list(rows) == [BASELINE, INFERWATCH, INFERWATCH_BATCH]
    base, single, batch = rows[BASELINE], rows[INFERWATCH], rows[INFERWATCH_BATCH]
    assert (base.explanations, base.mean_s, base.p50_s, base.calls_per_explanation) == (2, 2.0, 2.0, 20.0)
    assert base.p95_s == pytest.approx(2.9)
    assert single.ratio_vs_baseline == pytest.approx(1.0)
    assert single.cpu_ratio_vs_baseline == pytest.approx(3.6 / 3.2)
    assert (batch.explanations, batch.mean_s, batch.calls_per_explanation) == (2, 3.0, 25.0)
    assert batch.ratio_vs_baseline == pytest.approx(1.5)
    assert batch.cpu_s == pytest.approx(2.0)


def test_no_baseline_means_no_ratio_and_missing_cpu_is_not_zero() -> None:
    (row,) = report.aggregate([Timing("kernel_shap", INFERWATCH, 0, 1, 0.2, None)])
    assert math.isnan(row.ratio_vs_baseline) and math.isnan(row.cpu_s) and math.isnan(row.calls_per_explanation)
    assert row.to_dict()["ratio_vs_baseline"] is None


def test_verdicts_judge_both_inferwatch_variants_and_leave_out_an_unavailable_mlserver() -> None:
    rows = report.aggregate(_timings())
    vs = report.verdicts(rows, mlserver_unavailable="does not install")
    assert [(v.target, v.status) for v in vs] == [
        ("inferwatch / in-process mean", "PASS"),
        ("inferwatch-batch / in-process mean", "MISS"),
    ]
    assert "MISS  inferwatch-batch / in-process mean" in report.verdict_table(vs)
    assert "(target <= 1.1x)" in report.verdict_table(vs)


def test_mlserver_verdict_is_mlserver_over_inferwatch() -> None:
    rows = report.aggregate([*_timings(), Timing("anchor_tabular", MLSERVER, 0, 1, 3.0, None)])
    (peer,) = [v for v in report.verdicts(rows, None) if v.target.startswith("mlserver")]
    assert peer.value == pytest.approx(1.5) and peer.status == "MISS" and peer.higher_is_better


def _anchor(variant: str, i: int, anchor: tuple[str, ...], precision: float, coverage: float) -> Summary:
    return Summary("anchor_tabular", variant, i, anchor=anchor, precision=precision, coverage=coverage)


def test_anchor_check_counts_same_anchors_and_judges_the_ballpark() -> None:
    base = [_anchor(BASELINE, 0, ("a <= 1",), 0.96, 0.30), _anchor(BASELINE, 1, ("b > 2",), 0.98, 0.20)]
    close = [_anchor(INFERWATCH, 0, ("a <= 1",), 0.95, 0.28), _anchor(INFERWATCH, 1, ("c > 0",), 0.97, 0.25)]
    (check,) = report.compare(base + close, INFERWATCH)
    assert check.comparable and check.pairs == 2
    assert "same anchor 1/2" in check.detail
    far = [_anchor(INFERWATCH, 0, ("a <= 1",), 0.70, 0.28), _anchor(INFERWATCH, 1, ("b > 2",), 0.70, 0.25)]
    (check,) = report.compare(base + far, INFERWATCH)
    assert not check.comparable
    assert report.check_table([check]).startswith("DIFFERENT anchor_tabular")


def test_shap_check_compares_values_relative_to_their_size() -> None:
    def s(variant: str, values: tuple[float, ...]) -> Summary:
        return Summary("kernel_shap", variant, 0, shap=values)

    (same,) = report.compare([s(BASELINE, (0.5, -0.2)), s(INFERWATCH, (0.51, -0.2))], INFERWATCH)
    assert same.comparable
    (off,) = report.compare([s(BASELINE, (0.5, -0.2)), s(INFERWATCH, (0.2, -0.2))], INFERWATCH)
    assert not off.comparable
    (shape,) = report.compare([s(BASELINE, (0.5, -0.2)), s(INFERWATCH, (0.5,))], INFERWATCH)
    assert not shape.comparable and "different shapes" in shape.detail


def test_summarize_reads_anchor_documents() -> None:
    doc = {"meta": {"name": "AnchorTabular"}, "data": {"anchor": ["x <= 1.0"], "precision": 0.97, "coverage": 0.2}}
    got = summarize("anchor_tabular", INFERWATCH, 3, doc)
    assert (got.anchor, got.precision, got.coverage, got.instance) == (("x <= 1.0",), 0.97, 0.2, 3)


def test_model_file_reference_and_real_kernel_shap_explanations(tmp_path: Path) -> None:
    model_file, reference_csv = fit_model(tmp_path)
    model = load_model(model_file)
    reference = load_reference(reference_csv)
    assert reference.X.shape == (150, 4)
    assert model.predict_proba(reference.X[:2]).shape == (2, 3)
    local = InProcess("kernel_shap", model.estimator.predict_proba, reference, seed=0)
    _, cpu, calls, doc = local.explain(reference.X[0])
    assert calls >= 1 and cpu >= 0
    summary = summarize("kernel_shap", BASELINE, 0, doc)
    assert len(summary.shap) == 3 * 4  # one value per class and feature
    # identity link: per class, the SHAP values add up to prediction minus expected value
    values = np.asarray(summary.shap).reshape(3, 4).sum(axis=1)
    expected = np.asarray(doc["data"]["expected_value"])
    assert np.allclose(values + expected, model.predict_proba(reference.X[:1])[0], atol=1e-6)
    (check,) = report.compare([summary, summarize("kernel_shap", INFERWATCH, 0, doc)], INFERWATCH)
    assert check.comparable and "0.00e+00" in check.detail


def test_model_calls_are_read_from_the_explainers_metrics() -> None:
    metrics = ExplainerMetrics()
    assert model_calls_from_metrics(generate_latest(metrics.registry).decode(), "kernel_shap") == 0.0
    metrics.model_calls.labels("kernel_shap").observe(3)
    metrics.model_calls.labels("kernel_shap").observe(4)
    metrics.model_calls.labels("anchor_tabular").observe(50)
    assert model_calls_from_metrics(generate_latest(metrics.registry).decode(), "kernel_shap") == 7.0


def test_instances_are_distinct_seeded_rows() -> None:
    X = np.arange(20.0).reshape(10, 2)
    a, b = instances(X, 4, seed=1), instances(X, 4, seed=1)
    assert np.array_equal(a, b) and len({tuple(r) for r in a}) == 4
    assert len(instances(X, 50, seed=1)) == 10


def test_mlserver_variant_reports_why_it_is_unavailable() -> None:
    assert "mlserver-alibi-explain==1.6.1" in mlserver_unavailable(None)
    assert "cannot import mlserver_alibi_explain" in mlserver_unavailable(Path(sys.executable))
    assert "cannot run" in mlserver_unavailable(Path("/nonexistent/python"))


def test_arguments() -> None:
    args = parse_args(["--quick"])
    assert args.instances == 5 and args.kinds == ["anchor_tabular", "kernel_shap"]
    assert parse_args(["--kinds", "kernel_shap", "--instances", "3"]).kinds == ["kernel_shap"]
    assert parse_args([]).pause == 0.1
    for bad in (["--kinds", "ale"], ["--instances", "0"], ["--pause", "-1"]):
        with pytest.raises(SystemExit):
            parse_args(bad)
