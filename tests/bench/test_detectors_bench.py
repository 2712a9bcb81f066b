"""The detector benchmark's pure parts: seeded data and its wire bodies, verdict parsing, rows, ratios, targets,
tables, options; and the MLServer alibi-detect model settings it writes (no server is started)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.detectors import data, report
from bench.detectors.report import DIRECT, INFERWATCH_SELDON, INFERWATCH_V2, INFERWATCH_V2_BINARY, MLSERVER, Timing
from bench.detectors.run import parse_args
from bench.detectors.variants import seldon_verdict, v2_verdict
from bench.logger.procs import BenchError
from devstack.peers.mlserver import ALIBI_DETECT_RUNTIME, prepare_detector
from inferwatch.protocols import decode_body

REPO = Path(__file__).resolve().parents[2]


def test_reference_is_seeded_float32_of_the_asked_shape() -> None:
    ref = data.reference(10_000)
    assert ref.shape == (10_000, data.FEATURES) and ref.dtype == np.float32
    assert np.array_equal(ref, data.reference(10_000))
    assert not np.array_equal(ref, data.reference(10_000, seed=1))
    assert abs(float(ref.mean())) < 0.05 and abs(float(ref.std()) - 1.0) < 0.05


def test_batches_are_seeded_shaped_and_alternate_drifted() -> None:
    bs = data.batches(6, 1_000)
    assert [b.index for b in bs] == list(range(6))
    assert [b.drifted for b in bs] == [False, True, False, True, False, True]
    assert all(b.x.shape == (1_000, data.FEATURES) and b.x.dtype == np.float32 for b in bs)
    again = data.batches(6, 1_000)
    assert all(np.array_equal(a.x, b.x) for a, b in zip(bs, again, strict=True))
    assert not np.array_equal(bs[0].x, data.reference(1_000))  # not the reference's own rows


def test_drifted_batches_shift_only_the_first_features() -> None:
    bs = data.batches(40, 1_000)
    drifted = np.concatenate([b.x for b in bs if b.drifted])
    calm = np.concatenate([b.x for b in bs if not b.drifted])
    shift = drifted.mean(axis=0) - calm.mean(axis=0)
    k = data.DRIFTED_FEATURES
    assert np.allclose(shift[:k], data.SHIFT, atol=0.05)
    assert np.allclose(shift[k:], 0.0, atol=0.05)


def test_v2_body_decodes_to_the_same_float32_matrix() -> None:
    x = data.batches(1, 7)[0].x
    decoded = decode_body(data.v2_body(x, "r1"), kind="request", protocol="v2")
    assert decoded.payload is not None and decoded.payload.id == "r1"
    (tensor,) = decoded.payload.tensors
    assert (tensor.name, tensor.datatype, tensor.shape) == (data.V2_INPUT, "FP32", [7, data.FEATURES])
    assert isinstance(tensor.data, np.ndarray) and np.array_equal(tensor.data, x)
    raw = json.loads(data.v2_body(x))
    assert len(raw["inputs"][0]["data"]) == 7 * data.FEATURES  # flat, row-major


def test_seldon_body_carries_names_and_values() -> None:
    x = data.batches(1, 3)[0].x
    decoded = decode_body(data.seldon_body(x, data.feature_names()), kind="request", path="/api/v1.0/predictions")
    assert decoded.protocol == "seldon" and decoded.payload is not None
    assert decoded.payload.names == [f"f{j}" for j in range(data.FEATURES)]
    (tensor,) = decoded.payload.tensors
    assert np.allclose(np.asarray(tensor.data, dtype=np.float32), x)


def test_verdicts_are_read_from_v2_and_seldon_answers() -> None:
    mlserver = {"outputs": [{"name": "is_drift", "datatype": "INT64", "shape": [1], "data": [1]}]}
    assert v2_verdict(mlserver) == 1
    assert v2_verdict({"outputs": [{"name": "p_val", "data": [0.5]}]}) is None
    assert seldon_verdict({"jsonData": {"data": {"is_drift": 0, "p_val": [0.3]}, "meta": {}}}) == 0
    with pytest.raises(BenchError, match="pending"):
        v2_verdict({"outputs": [{"name": "pending", "data": [True]}, {"name": "received", "data": [10]}]})
    with pytest.raises(BenchError, match="pending"):
        seldon_verdict({"jsonData": {"data": {"pending": True, "received": 10}}})


def _t(variant: str, batch: int, ms: float, cpu_ms: float, is_drift: int | None = None, case: str = "ks") -> Timing:
    drifted = batch % 2 == 1
    verdict = int(drifted) if is_drift is None else is_drift
    return Timing(case, variant, batch, ms / 1e3, cpu_ms / 1e3, drifted, verdict)


def _timings() -> list[Timing]:
    out = []
    for b, (d, iw, ml) in enumerate([(10.0, 12.0, 20.0), (20.0, 21.0, 30.0), (30.0, 40.0, 25.0)]):
        out += [_t(DIRECT, b, d, d), _t(INFERWATCH_V2, b, iw, iw + 1), _t(MLSERVER, b, ml, 2 * ml)]
    out.append(_t(INFERWATCH_SELDON, 0, 11.0, 12.0, is_drift=1))  # batch 0 is calm: a wrong verdict
    return out


def test_aggregate_gives_percentiles_paired_added_cpu_and_ratios() -> None:
    rows = {r.variant: r for r in report.aggregate(_timings())}
    assert list(rows) == [DIRECT, INFERWATCH_V2, INFERWATCH_SELDON, MLSERVER]  # VARIANTS order
    iw, direct, ml = rows[INFERWATCH_V2], rows[DIRECT], rows[MLSERVER]
    assert (iw.batches, iw.p50_ms, direct.p50_ms, ml.p50_ms) == (3, 21.0, 20.0, 25.0)
    assert iw.mean_ms == pytest.approx(73.0 / 3)
    assert iw.p95_ms == pytest.approx(21.0 + 0.9 * 19.0)  # linear interpolation between 21 and 40
    assert iw.added_p50_ms == pytest.approx(2.0)  # per-batch differences 2, 1, 10
    assert iw.cpu_ms == pytest.approx(76.0 / 3) and ml.cpu_ms == pytest.approx(50.0)
    assert iw.p50_vs_direct == pytest.approx(21.0 / 20.0)
    assert iw.mean_vs_direct == pytest.approx(73.0 / 60.0)
    assert iw.cpu_vs_direct == pytest.approx(76.0 / 60.0)
    assert iw.p50_vs_mlserver == pytest.approx(21.0 / 25.0)
    assert iw.cpu_vs_mlserver == pytest.approx(76.0 / 150.0)
    assert direct.p50_vs_direct == 1.0 and direct.added_p50_ms == 0.0
    assert (iw.correct, iw.same_as_direct) == (3, 3)
    seldon = rows[INFERWATCH_SELDON]
    assert (seldon.batches, seldon.correct, seldon.same_as_direct) == (1, 0, 0)


def test_ratios_against_a_missing_baseline_are_nan_not_a_verdict() -> None:
    rows = report.aggregate([t for t in _timings() if t.variant != MLSERVER])
    iw = next(r for r in rows if r.variant == INFERWATCH_V2)
    assert math.isnan(iw.p50_vs_mlserver) and math.isnan(iw.cpu_vs_mlserver)
    vs = report.verdicts(rows, mlserver_unavailable="--no-mlserver")
    assert {v.target for v in vs} == {"p50 / direct p50"}
    assert iw.to_dict()["p50_vs_mlserver"] is None


def test_verdicts_mark_targets_met_or_missed() -> None:
    rows = report.aggregate(_timings())
    vs = {(v.target, v.scope): v for v in report.verdicts(rows)}
    assert vs[("p50 / direct p50", "ks inferwatch-v2")].status == "PASS"  # 1.05 <= 1.1
    assert vs[("p50 / mlserver-v2 p50", "ks inferwatch-v2")].status == "PASS"  # 0.84 <= 1
    assert vs[("p50 / direct p50", "ks inferwatch-seldon")].status == "PASS"  # 11 / 20 = 0.55
    text = report.verdict_table(list(vs.values()))
    assert "met    p50 / direct p50       ks inferwatch-v2           1.050x  (target <= 1.1x)" in text


def test_seldon_ratio_uses_its_own_batches_and_missed_shows_as_missed() -> None:
    slow = [_t(DIRECT, 0, 10.0, 10.0), _t(INFERWATCH_SELDON, 0, 12.0, 12.0)]
    (v,) = report.verdicts(report.aggregate(slow), mlserver_unavailable="not built")
    assert v.status == "MISS" and v.value == pytest.approx(1.2)
    assert report.verdict_table([v]).startswith("missed ")


def test_table_has_a_line_per_row_with_the_figures() -> None:
    rows = report.aggregate(_timings())
    lines = report.table(rows).splitlines()
    assert len(lines) == 2 + len(rows)
    iw = next(line for line in lines if " inferwatch-v2 " in line)
    assert "21.00" in iw and "+2.00" in iw and "1.050" in iw and "3/3" in iw
    assert "1.000" in next(line for line in lines if line.startswith("ks   direct"))  # direct vs itself


def test_quick_caps_the_work_and_bad_cases_are_refused() -> None:
    args = parse_args(["--quick"])
    assert (args.batches, args.mmd_batches, args.warmup) == (8, 2, 1)
    assert args.cases == ["ks", "mmd"]
    assert parse_args(["--cases", "ks", "--batches", "5"]).batches == 5
    with pytest.raises(SystemExit):
        parse_args(["--cases", "ks,nope"])
    with pytest.raises(SystemExit):
        parse_args(["--batches", "0"])


def test_mlserver_model_settings_point_the_alibi_detect_runtime_at_the_saved_dir(tmp_path: Path) -> None:
    detector_dir = tmp_path / "saved"
    name = prepare_detector(
        tmp_path / "mlserver", "ks-detector", detector_dir, predict_parameters={"drift_type": "feature"}
    )
    settings = json.loads((tmp_path / "mlserver" / "ks-detector" / "model-settings.json").read_text())
    assert name == "ks-detector" and settings["name"] == "ks-detector"
    assert settings["implementation"] == ALIBI_DETECT_RUNTIME
    assert settings["parameters"]["uri"] == str(detector_dir.resolve())
    assert settings["parameters"]["extra"] == {"predict_parameters": {"drift_type": "feature"}}  # no batch_size


@pytest.mark.slow
def test_quick_ks_run_end_to_end_stops_its_server(tmp_path: Path) -> None:
    """``python -m bench.detectors --quick`` on KS without MLServer (~20 s): every variant answers every batch
    with direct's verdict, the JSON holds the rows, and no process of the run is left."""
    workdir, out = tmp_path / "work", tmp_path / "result.json"
    argv = ["--quick", "--cases", "ks", "--no-mlserver", "--workdir", str(workdir), "--json", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "bench.detectors", *argv], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {r["variant"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {DIRECT, INFERWATCH_V2, INFERWATCH_V2_BINARY, INFERWATCH_SELDON}
    for row in rows.values():
        assert row["batches"] == 8 and row["same_as_direct"] == 8 and row["correct"] >= 6
        assert row["p50_ms"] > 0 and row["cpu_ms"] >= 0
    assert "p50 / direct p50       ks inferwatch-v2" in done.stdout
    assert "the MLServer variant did not run: --no-mlserver" in done.stdout
    assert (workdir / "logs" / "inferwatch-ks.log").is_file()
    assert not _processes_mentioning(str(workdir))


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().decode(errors="replace"):
                pids.append(int(cmdline.parent.name))
        except OSError:  # the process ended while we looked
            continue
    return pids
