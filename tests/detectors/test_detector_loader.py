"""Loading detector directories: ours, plain alibi-detect ones, unsafe artefacts and broken directories."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from inferwatch.detectors.fit import fit_detector
from inferwatch.detectors.loader import load
from inferwatch.errors import ConfigError


def test_plain_alibi_detect_directory_loads(plain_wine_dir: Path) -> None:
    loaded = load(plain_wine_dir, trust_artifacts=False)
    assert loaded.detector_type == "drift" and loaded.n_features == 13 and loaded.feature_names is None
    assert type(loaded.detector).__name__ == "CVMDrift"


def test_missing_directory_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist.*inferwatch detector fit"):
        load(tmp_path / "nowhere", trust_artifacts=False)


def test_directory_without_config_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config\.toml not found"):
        load(tmp_path, trust_artifacts=False)


def test_incompatible_config_names_the_file(tmp_path: Path, ks_dir: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(ks_dir, broken)
    (broken / "config.toml").write_text('name = "NoSuchDetector"\n')
    with pytest.raises(ConfigError, match=r"config\.toml could not be loaded"):
        load(broken, trust_artifacts=False)


def test_joblib_fallback_needs_trust(iforest_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"detector\.joblib.*--trust-artifacts"):
        load(iforest_dir, trust_artifacts=False)
    assert load(iforest_dir, trust_artifacts=True).detector_type == "outlier"


def test_classifier_dill_and_joblib_files_need_trust(tmp_path: Path, iris_csv: Path) -> None:
    fit_detector("classifier", iris_csv, tmp_path / "clf", options={"n_folds": 2}, progress=False)
    with pytest.raises(ConfigError, match=r"\.dill.*--trust-artifacts"):
        load(tmp_path / "clf", trust_artifacts=False)
    loaded = load(tmp_path / "clf", trust_artifacts=True)
    assert loaded.n_features == 4 and type(loaded.detector).__name__ == "ClassifierDrift"
