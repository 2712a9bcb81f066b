"""Online drift detectors keep their state across restarts: saved every N instances and on a clean shutdown."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferwatch.detectors.core import DetectorCore
from inferwatch.detectors.fit import fit_detector
from inferwatch.errors import ConfigError

Array = np.ndarray[Any, Any]
MakeCore = Callable[..., DetectorCore]


@pytest.fixture(scope="module")
def cvm_online_dir(tmp_path_factory: pytest.TempPathFactory, iris_csv: Path) -> Path:
    """Small ert/window keep the threshold simulation (repeated by every load) to a few seconds."""
    out = tmp_path_factory.mktemp("cvmo") / "detector"
    fit_detector("cvm-online", iris_csv, out, options={"ert": 50, "window_sizes": [10]}, progress=False)
    return out


def stats(result: dict[str, Any]) -> tuple[int, Any]:
    return result["data"]["time"], result["data"]["test_stat"]


def test_restart_continues_the_test_window(
    cvm_online_dir: Path, tmp_path: Path, make_core: MakeCore, undrifted: Array, drifted: Array
) -> None:
    stream = np.concatenate([undrifted[:12], drifted[:6]])
    reference = make_core(cvm_online_dir, tmp_path / "uninterrupted")
    expected = [stats(reference.detect(row[None, :])) for row in stream]

    first = make_core(cvm_online_dir, tmp_path / "s", checkpoint_every=5)
    first.detect(stream[:7])  # 7 >= 5: saved at t=7
    first.detect(stream[7:9])  # 2 more, not saved yet
    state = tmp_path / "s" / "online"
    assert (state / "state.npz").is_file() and not (tmp_path / "s" / "online.tmp").exists()

    crashed = make_core(cvm_online_dir, tmp_path / "s")  # restart without a clean shutdown: the checkpoint
    assert int(crashed.loaded.detector.t) == 7

    first.close()  # clean shutdown: everything
    restarted = make_core(cvm_online_dir, tmp_path / "s")
    assert int(restarted.loaded.detector.t) == 9
    got = [stats(restarted.detect(row[None, :])) for row in stream[9:]]
    assert [t for t, _ in got] == [t for t, _ in expected[9:]] == list(range(10, 19))
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected[9:]])


def test_checkpoint_every_zero_saves_on_shutdown_only(
    cvm_online_dir: Path, tmp_path: Path, make_core: MakeCore, undrifted: Array
) -> None:
    core = make_core(cvm_online_dir, tmp_path / "s", checkpoint_every=0)
    core.detect(undrifted[:20])
    assert not (tmp_path / "s" / "online").exists()
    core.close()
    assert int(make_core(cvm_online_dir, tmp_path / "s").loaded.detector.t) == 20


def test_damaged_state_is_a_startup_error_naming_it(cvm_online_dir: Path, tmp_path: Path, make_core: MakeCore) -> None:
    state = tmp_path / "s" / "online"
    state.mkdir(parents=True)
    (state / "state.npz").write_bytes(b"not a numpy archive")
    with pytest.raises(ConfigError, match="delete that directory") as err:
        make_core(cvm_online_dir, tmp_path / "s")
    assert str(state) in err.value.message


def test_drift_detectors_without_online_state_write_none(ks_core: DetectorCore, undrifted: Array) -> None:
    assert ks_core.checkpoint is None
    ks_core.detect(undrifted[:10])
    ks_core.close()
    assert ks_core.settings.state_dir is not None and ks_core.settings.state_dir.is_dir()
    assert not (ks_core.settings.state_dir / "online").exists()
