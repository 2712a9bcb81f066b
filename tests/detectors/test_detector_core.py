"""DetectorCore: verdicts, count and time windows, persistence across restarts, input validation."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferwatch.detectors.core import DetectorCore
from inferwatch.detectors.window import Window
from inferwatch.errors import UnprocessableEntity

MakeCore = Callable[..., DetectorCore]


def test_undrifted_window_has_no_drift(ks_core: DetectorCore, undrifted: Any) -> None:
    result = ks_core.detect(undrifted)
    assert result["data"]["is_drift"] == 0
    assert result["data"]["window_size"] == 50 and result["data"]["trigger"] == "count"
    assert result["meta"]["name"] == "KSDrift" and len(result["data"]["p_val"]) == 4


def test_drifted_window_drifts_in_the_shifted_feature(ks_core: DetectorCore, drifted: Any) -> None:
    data = ks_core.detect(drifted)["data"]
    assert data["is_drift"] == 1
    p = np.array(data["p_val"])
    assert p[0] < data["threshold"] and (p[1:] > data["threshold"]).all()


def test_count_window_is_pending_until_full(ks_core: DetectorCore, drifted: Any) -> None:
    first = ks_core.detect(drifted[:30])
    assert first["data"] == {"pending": True, "window_size": 50, "received": 30}
    assert first["meta"]["detector_type"] == "drift"
    second = ks_core.detect(drifted[30:])
    assert second["data"]["is_drift"] == 1 and second["data"]["window_size"] == 50
    assert ks_core.window.received == 0


def test_rows_beyond_the_window_stay_pending(ks_core: DetectorCore, drifted: Any) -> None:
    ks_core.detect(np.concatenate([drifted, drifted[:7]]))
    assert ks_core.window.received == 7


def test_pending_window_survives_a_restart(ks_dir: Path, tmp_path: Path, drifted: Any, make_core: MakeCore) -> None:
    before = make_core(ks_dir, tmp_path / "state", batch_size=50)
    assert before.detect(drifted[:40])["data"]["received"] == 40
    after = make_core(ks_dir, tmp_path / "state", batch_size=50)  # a new process would do the same
    assert after.window.received == 40
    assert after.detect(drifted[40:])["data"]["is_drift"] == 1


def test_time_window_closes_before_the_count(ks_dir: Path, tmp_path: Path, drifted: Any, make_core: MakeCore) -> None:
    core = make_core(ks_dir, tmp_path / "state", batch_size=1000, window_seconds=0.3)
    assert core.detect(drifted[:25])["data"]["pending"] is True
    assert core.tick() is None  # not yet due
    time.sleep(0.35)
    result = core.tick()
    assert result is not None and result["data"]["trigger"] == "time" and result["data"]["window_size"] == 25
    assert core.window.received == 0


def test_time_window_also_closes_on_the_next_request(tmp_path: Path) -> None:
    w = Window(tmp_path, size=100, seconds=10)
    assert w.add(np.ones((3, 2)), now=0.0) == []
    closed = w.add(np.ones((2, 2)), now=11.0)
    assert [(len(x), trigger) for x, trigger in closed] == [(5, "time")]
    w.commit()
    assert w.received == 0 and not (tmp_path / "pending.npy").exists()


def test_outlier_verdicts(iforest_dir: Path, tmp_path: Path, iris_x: Any, make_core: MakeCore) -> None:
    core = make_core(iforest_dir, tmp_path / "s", trust_artifacts=True)
    result = core.detect(np.vstack([iris_x[:3], [[30.0, 30.0, -20.0, 40.0]]]))
    assert result["data"]["is_outlier"] == [0, 0, 0, 1]
    assert result["meta"]["detector_type"] == "outlier" and len(result["data"]["instance_score"]) == 4


def test_plain_alibi_detector_served_unchanged(plain_wine_dir: Path, tmp_path: Path, make_core: MakeCore) -> None:
    from sklearn.datasets import load_wine

    core = make_core(plain_wine_dir, tmp_path / "s", batch_size=40)
    sample = load_wine().data[np.random.default_rng(1).choice(178, 40, replace=False)]  # rows are class-sorted
    assert core.names == [f"f{j}" for j in range(13)]
    assert core.detect(sample)["data"]["is_drift"] == 0  # reference rows: no drift
    assert core.detect(sample * 3)["data"]["is_drift"] == 1


@pytest.mark.parametrize("shape", [(5, 3), (5, 5)])
def test_wrong_feature_count_states_shapes(ks_core: DetectorCore, shape: tuple[int, int]) -> None:
    with pytest.raises(UnprocessableEntity) as err:
        ks_core.detect(np.zeros(shape))
    assert err.value.details["expected_shape"] == ["n", 4]
    assert err.value.details["received_shape"] == list(shape)


def test_wrong_dtype_is_rejected(ks_core: DetectorCore) -> None:
    with pytest.raises(UnprocessableEntity, match="numeric"):
        ks_core.detect(np.array([["a", "b", "c", "d"]]))


def test_rows_are_matched_by_feature_name(ks_core: DetectorCore, iris_names: list[str]) -> None:
    rows = [dict(zip(reversed(iris_names), [4.0, 3.0, 2.0, 1.0], strict=True))]
    assert ks_core.features(rows).tolist() == [[1.0, 2.0, 3.0, 4.0]]
    with pytest.raises(UnprocessableEntity, match="received"):
        ks_core.features([{"a": 1, "b": 2}])


def test_online_cvm_flags_drift_per_instance(
    tmp_path: Path, iris_csv: Path, make_core: MakeCore, undrifted: Any, drifted: Any
) -> None:
    """Small ert/window keep the threshold simulation to a few seconds (defaults take 30-60 s)."""
    from inferwatch.detectors.fit import fit_detector

    fit_detector("cvm-online", iris_csv, tmp_path / "cvmo", options={"ert": 50, "window_sizes": [10]}, progress=False)
    core = make_core(tmp_path / "cvmo", tmp_path / "s")
    assert core.loaded.online
    calm = core.detect(undrifted[:5])
    assert calm["data"]["is_drift"] == 0 and calm["data"]["threshold"] == [None]  # NaN during warm-up -> null
    assert core.detect(np.tile(drifted, (2, 1)))["data"]["is_drift"] == 1


def _decode(body: dict[str, Any], protocol: str) -> Any:
    from inferwatch.protocols import get_codec

    return get_codec(protocol).decode_request(body)


def test_payload_features_fast_path_matches_the_rows_path(ks_core: DetectorCore, iris_names: list[str]) -> None:
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
    reversed_names = list(reversed(iris_names))
    payloads = [
        _decode({"inputs": [{"name": "x", "shape": [3, 4], "datatype": "FP64", "data": rows}]}, "v2"),
        _decode({"data": {"names": iris_names, "ndarray": rows}}, "seldon"),
        _decode({"data": {"names": reversed_names, "ndarray": [r[::-1] for r in rows]}}, "seldon"),
        _decode({"data": {"ndarray": rows}}, "seldon"),
        _decode({"data": {"ndarray": [[5, 3, 1, 0], [6, 3, 5, 2]]}}, "seldon"),
    ]
    for p in payloads:
        fast, slow = ks_core.payload_features(p), ks_core.features(p.rows())
        assert fast.dtype == slow.dtype and np.array_equal(fast, slow), p
    assert np.array_equal(ks_core.payload_features(payloads[2]), np.asarray(rows, dtype=ks_core.loaded.dtype))


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"ndarray": [[5.1, 3.5, 1.4]]}},  # wrong width
        {"data": {"ndarray": [[5.1, float("nan"), 1.4, 0.2]]}},  # NaN: the rows path's answer
        {"data": {"ndarray": []}},  # no instances
    ],
)
def test_payload_features_errors_match_the_rows_path(ks_core: DetectorCore, body: dict[str, Any]) -> None:
    payload = _decode(body, "seldon")
    with pytest.raises(UnprocessableEntity) as slow:
        ks_core.features(payload.rows())
    with pytest.raises(UnprocessableEntity) as fast:
        ks_core.payload_features(payload)
    assert fast.value.message == slow.value.message
