"""TensorFlow detector kinds (``inferwatch[detect-tf]``): fit -> save -> load as served -> verdicts.

Tiny iris data and few epochs keep each fit around a second. The online kinds use a small ``ert`` and
``window_size`` so their threshold simulation takes seconds instead of the default 30-60 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import load_iris

from inferwatch import tf_env
from inferwatch.detectors.app import create_app
from inferwatch.detectors.artifacts import MANIFEST
from inferwatch.detectors.fit import fit_detector
from inferwatch.detectors.kinds import build, get_kind
from inferwatch.detectors.loader import load, needs_tensorflow
from inferwatch.errors import ConfigError
from tests.detectors.conftest import MakeCore

Array = np.ndarray[Any, Any]
OUTLIER_ROW = [30.0, -10.0, 40.0, 25.0]
EPOCHS = {"epochs": 20, "seed": 0}


def _fit(tmp_path_factory: pytest.TempPathFactory, kind: str, reference: Path, **options: Any) -> Path:
    out = tmp_path_factory.mktemp(kind) / "detector"
    fit_detector(kind, reference, out, options=options, progress=False)
    return out


@pytest.fixture(scope="module")
def labelled_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ref") / "iris_labelled.csv"
    load_iris(as_frame=True).frame.to_csv(path, index=False)  # four features + "target"
    return path


@pytest.mark.parametrize("kind", ["mmd", "lsdd"])
def test_drift_kinds_tell_drifted_from_undrifted(
    kind: str, tmp_path_factory: pytest.TempPathFactory, iris_csv: Path, tmp_path: Path, make_core: MakeCore,
    undrifted: Array, drifted: Array,
) -> None:  # fmt: skip
    out = _fit(tmp_path_factory, kind, iris_csv, n_permutations=50)
    assert (out / "config.toml").is_file() and 'backend = "tensorflow"' in (out / "config.toml").read_text()
    assert needs_tensorflow(out)
    core = make_core(out, tmp_path / "state", batch_size=50)
    assert core.detector_type == "drift" and core.loaded.n_features == 4
    assert core.detect(undrifted)["data"]["is_drift"] == 0
    result = core.detect(drifted)["data"]
    assert result["is_drift"] == 1 and result["p_val"] < 0.05


@pytest.mark.parametrize("kind", ["mmd-online", "lsdd-online"])
def test_online_kinds_flag_drift_after_a_few_drifted_instances(
    kind: str, tmp_path_factory: pytest.TempPathFactory, iris_csv: Path, tmp_path: Path, make_core: MakeCore,
    undrifted: Array, drifted: Array,
) -> None:  # fmt: skip
    # small ert/window/bootstraps: thresholds in seconds (the defaults take 30-60 s)
    out = _fit(tmp_path_factory, kind, iris_csv, ert=25, window_size=5, n_bootstraps=250)
    # thresholds are bootstrapped again on load: seed them, or an ert of 25 false-alarms on calm data ~1 run in 5
    import tensorflow as tf

    np.random.seed(0)
    tf.random.set_seed(0)
    core = make_core(out, tmp_path / "state")
    assert core.loaded.online
    calm = [core.detect(row[None, :])["data"]["is_drift"] for row in undrifted[:5]]
    assert calm == [0] * 5
    flags = [core.detect(row[None, :])["data"]["is_drift"] for row in drifted[:15]]
    assert 1 in flags


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_autoencoders_flag_an_obvious_outlier(
    kind: str, tmp_path_factory: pytest.TempPathFactory, iris_csv: Path, tmp_path: Path, make_core: MakeCore,
    iris_x: Array, iris_names: list[str],
) -> None:  # fmt: skip
    out = _fit(tmp_path_factory, kind, iris_csv, latent_dim=2, threshold_perc=99, **EPOCHS)
    assert json.loads((out / MANIFEST).read_text())["kind"] == kind
    with pytest.raises(ConfigError, match="--trust-artifacts"):  # the legacy format pickles (dill)
        load(out, trust_artifacts=False)
    core = make_core(out, tmp_path / "state", trust_artifacts=True)
    assert core.detector_type == "outlier"
    data = core.detect(np.array([iris_x[0], OUTLIER_ROW]))["data"]
    assert data["is_outlier"] == [0, 1]
    assert len(data["instance_score"]) == 2 and data["instance_score"][1] > data["instance_score"][0]
    with TestClient(create_app(core.settings, core)) as client:  # served: the graph component answers
        r = client.post("/predict", json={"data": {"names": iris_names, "ndarray": [OUTLIER_ROW]}})
        assert r.status_code == 200, r.text
        assert r.json()["jsonData"]["data"]["is_outlier"] == [1]


def test_adversarial_ae_needs_labels_and_answers_per_instance(
    tmp_path_factory: pytest.TempPathFactory, labelled_csv: Path, iris_csv: Path, tmp_path: Path,
    make_core: MakeCore, iris_x: Array,
) -> None:  # fmt: skip
    with pytest.raises(ConfigError, match="label_column"):
        fit_detector("adversarial-ae", iris_csv, tmp_path / "no-labels", progress=False)
    out = _fit(tmp_path_factory, "adversarial-ae", labelled_csv, label_column="target", classifier_epochs=30, **EPOCHS)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["n_features"] == 4 and "target" not in manifest["feature_names"]
    core = make_core(out, tmp_path / "state", trust_artifacts=True)
    assert core.detector_type == "outlier" and core.loaded.meta["detector_type"] == "adversarial"
    data = core.detect(iris_x[:3])["data"]
    assert len(data["instance_score"]) == 3 and len(data["is_adversarial"]) == 3
    assert data["is_outlier"] == data["is_adversarial"]


def test_label_column_must_exist(labelled_csv: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a column"):
        fit_detector("adversarial-ae", labelled_csv, tmp_path / "x", options={"label_column": "nope"}, progress=False)


def test_tf_kind_without_tensorflow_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tf_env, "available", lambda: False)
    with pytest.raises(ConfigError, match=r"inferwatch\[detect-tf\]"):
        build(get_kind("ae"), np.zeros((10, 2)), {})


def test_needs_tensorflow_reads_manifest_and_config(ks_dir: Path, plain_wine_dir: Path, tmp_path: Path) -> None:
    assert not needs_tensorflow(ks_dir)  # manifest kind
    assert not needs_tensorflow(plain_wine_dir)  # config.toml of a CVMDrift, no manifest
    (tmp_path / "config.toml").write_text('name = "MMDDrift"\nbackend = "tensorflow"\n')
    assert needs_tensorflow(tmp_path)
    assert needs_tensorflow(tmp_path / "missing")


def test_a_cli_process_for_a_non_tf_kind_never_loads_tensorflow(iris_csv: Path, tmp_path: Path) -> None:
    """alibi-detect imports TF eagerly (~10 s); `inferwatch detector fit --kind ks` hides it, and
    alibi-detect's own save of IForest then fails: the reason iforest/mahalanobis use the joblib format."""
    code = f"""
import sys
from inferwatch.cli import main
sys.argv = ["inferwatch", "detector", "fit", "--kind", "ks", "--reference", {str(iris_csv)!r},
            "--out", {str(tmp_path / "ks")!r}, "--no-progress"]
rc = main()
from alibi_detect.utils.frameworks import has_tensorflow
from alibi_detect.od import IForest
from alibi_detect.saving import save_detector
try:
    save_detector(IForest(), {str(tmp_path / "if")!r})
    saved = True
except RuntimeError:
    saved = False
print(rc, "tensorflow" in sys.modules and sys.modules["tensorflow"] is not None, has_tensorflow, saved)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert run.stdout.split()[-4:] == ["0", "False", "False", "False"], run.stderr[-2000:]
    assert (tmp_path / "ks" / "config.toml").is_file()


def test_reference_frame_has_the_label_column(labelled_csv: Path) -> None:
    assert list(pd.read_csv(labelled_csv).columns)[-1] == "target"
