"""A detector's state is its own: a default directory per detector, ``state.json`` naming its detector, and
another detector's state refused at start, never mixed in."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_wine

from inferwatch.cli import main
from inferwatch.detectors.core import DetectorCore
from inferwatch.detectors.settings import DetectorSettings
from inferwatch.detectors.state import MANIFEST, default_state_dir
from inferwatch.errors import ConfigError

Array = np.ndarray[Any, Any]
MakeCore = Callable[..., DetectorCore]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INFERWATCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _default_core(detector: Path, **settings: Any) -> DetectorCore:
    """A core as ``detector serve|consume`` builds it without --state-dir."""
    return DetectorCore(DetectorSettings(detector=detector, **settings))


def test_two_detectors_without_state_dir_keep_their_own_state(
    home: Path, ks_dir: Path, plain_wine_dir: Path, drifted: Array
) -> None:
    iris = _default_core(ks_dir, batch_size=50)
    assert iris.detect(drifted[:10])["data"]["received"] == 10
    wine = _default_core(plain_wine_dir, batch_size=40)  # 13 features, the same default model name
    wine_rows = load_wine().data[:5]
    assert wine.detect(wine_rows)["data"]["received"] == 5  # not the 10 iris rows, and no shape error
    assert iris.detect(drifted[10:20])["data"]["received"] == 20
    assert iris.state_dir != wine.state_dir and iris.state_dir.parent == wine.state_dir.parent == home / "detectors"
    assert _default_core(ks_dir, batch_size=50).window.received == 20  # a restart finds its own directory again


def test_the_default_directory_is_named_after_the_model_and_the_detector_path(home: Path, ks_dir: Path) -> None:
    core = _default_core(ks_dir, model_name="iris drift")
    assert core.state_dir == default_state_dir(home, "iris drift", ks_dir)
    assert core.state_dir.name.startswith("iris_drift-") and len(core.state_dir.name) == len("iris_drift-") + 12


def test_state_json_names_the_detector(
    ks_dir: Path, tmp_path: Path, make_core: MakeCore, iris_names: list[str]
) -> None:
    make_core(ks_dir, tmp_path / "s")
    manifest = json.loads((tmp_path / "s" / MANIFEST).read_text())
    assert manifest["format"] == "inferwatch-detector-state" and manifest["version"] == 1
    assert manifest["detector"] == {
        "path": str(ks_dir.resolve()),
        "type": "drift",
        "class": "KSDrift",
        "online": False,
        "n_features": 4,
        "feature_names": iris_names,
    }


def test_another_detectors_state_dir_is_refused_naming_both(
    ks_dir: Path, plain_wine_dir: Path, tmp_path: Path, make_core: MakeCore, drifted: Array
) -> None:
    make_core(ks_dir, tmp_path / "s", batch_size=50).detect(drifted[:10])
    with pytest.raises(ConfigError) as err:
        make_core(plain_wine_dir, tmp_path / "s")
    message = err.value.message
    assert f"state directory {tmp_path / 's'} belongs to another detector" in message
    assert str(ks_dir.resolve()) in message and str(plain_wine_dir.resolve()) in message
    assert "--state-dir" in message and f"delete {tmp_path / 's'}" in message
    assert make_core(ks_dir, tmp_path / "s", batch_size=50).window.received == 10  # left as it was


def test_the_cli_refuses_it_at_start_with_exit_2(
    ks_dir: Path, plain_wine_dir: Path, tmp_path: Path, make_core: MakeCore, caplog: pytest.LogCaptureFixture
) -> None:
    make_core(ks_dir, tmp_path / "s")
    argv = ["detector", "serve", "--detector", str(plain_wine_dir), "--state-dir", str(tmp_path / "s")]
    assert main(argv) == 2
    assert "belongs to another detector" in caplog.text and str(ks_dir.resolve()) in caplog.text


def test_an_earlier_versions_directory_that_fits_is_adopted(
    ks_dir: Path, tmp_path: Path, make_core: MakeCore, drifted: Array
) -> None:
    state = tmp_path / "s"
    state.mkdir()
    np.save(state / "pending.npy", drifted[:30])
    (state / "pending.json").write_text(json.dumps({"started": 1.0}))
    core = make_core(ks_dir, state, batch_size=50)
    assert core.window.received == 30 and (state / MANIFEST).is_file()
    np.testing.assert_array_equal(core.window.rows, drifted[:30])
    assert core.detect(drifted[30:])["data"]["is_drift"] == 1


def test_an_earlier_versions_directory_that_does_not_fit_is_refused(
    plain_wine_dir: Path, tmp_path: Path, make_core: MakeCore, drifted: Array
) -> None:
    state = tmp_path / "s"
    state.mkdir()
    np.save(state / "pending.npy", drifted[:30])  # 4 features; the wine detector has 13
    with pytest.raises(ConfigError, match="pending drift window of 4 features") as err:
        make_core(plain_wine_dir, state)
    assert "13 features" in err.value.message
    assert not (state / MANIFEST).exists() and (state / "pending.npy").is_file()  # nothing touched


def test_a_pending_window_of_another_width_is_refused_even_with_a_matching_manifest(
    ks_dir: Path, tmp_path: Path, make_core: MakeCore
) -> None:
    from inferwatch.detectors.window import Window

    make_core(ks_dir, tmp_path / "s")
    Window(tmp_path / "s", size=10, seconds=None).add(np.zeros((3, 2)))
    with pytest.raises(ConfigError, match="pending drift window of 2 features"):
        make_core(ks_dir, tmp_path / "s")


def test_the_shared_default_of_earlier_versions_is_pointed_at_not_used(
    home: Path, ks_dir: Path, drifted: Array, caplog: pytest.LogCaptureFixture
) -> None:
    legacy = home / "detectors" / "detector"
    legacy.mkdir(parents=True)
    np.save(legacy / "pending.npy", drifted[:5])
    with caplog.at_level(logging.WARNING, logger="inferwatch.detectors.state"):
        core = _default_core(ks_dir)
    assert core.window.received == 0 and (legacy / "pending.npy").is_file()
    assert f"--state-dir {legacy}" in caplog.text


def test_a_pending_window_in_an_outlier_detectors_directory_is_refused(
    iforest_dir: Path, tmp_path: Path, make_core: MakeCore, drifted: Array
) -> None:
    state = tmp_path / "s"
    state.mkdir()
    np.save(state / "pending.npy", drifted[:30])  # 4 features, as the iris outlier detector, but it has no window
    with pytest.raises(ConfigError, match="which this kind of detector never has"):
        make_core(iforest_dir, state, trust_artifacts=True)
