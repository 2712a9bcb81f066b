"""Detectors fitted on scikit-learn's bundled iris and wine data, saved once per test session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris, load_wine

from inferwatch.detectors.core import DetectorCore
from inferwatch.detectors.fit import fit_detector
from inferwatch.detectors.settings import DetectorSettings

Array = np.ndarray[Any, Any]
DRIFT_SHIFT = np.array([2.0, 0.0, 0.0, 0.0])


@pytest.fixture(scope="session")
def iris_frame() -> pd.DataFrame:
    frame: pd.DataFrame = load_iris(as_frame=True).frame.drop(columns="target")
    return frame


@pytest.fixture(scope="session")
def iris_csv(tmp_path_factory: pytest.TempPathFactory, iris_frame: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("ref") / "iris.csv"
    iris_frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def iris_names(iris_frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in iris_frame.columns]


@pytest.fixture(scope="session")
def iris_x(iris_frame: pd.DataFrame) -> Array:
    x: Array = iris_frame.to_numpy()
    return x


@pytest.fixture(scope="session")
def undrifted(iris_x: Array) -> Array:
    """50 rows drawn from the reference itself: no drift."""
    rows: Array = iris_x[np.random.default_rng(0).choice(len(iris_x), 50, replace=False)]
    return rows


@pytest.fixture(scope="session")
def drifted(undrifted: Array) -> Array:
    """The same rows with sepal length shifted by 2 cm: drift in that feature only."""
    shifted: Array = undrifted + DRIFT_SHIFT
    return shifted


def _fit(tmp_path_factory: pytest.TempPathFactory, kind: str, reference: Path, **options: Any) -> Path:
    out = tmp_path_factory.mktemp(kind) / "detector"
    fit_detector(kind, reference, out, options=options, progress=False)
    return out


@pytest.fixture(scope="session")
def ks_dir(tmp_path_factory: pytest.TempPathFactory, iris_csv: Path) -> Path:
    return _fit(tmp_path_factory, "ks", iris_csv)


@pytest.fixture(scope="session")
def iforest_dir(tmp_path_factory: pytest.TempPathFactory, iris_csv: Path) -> Path:
    return _fit(tmp_path_factory, "iforest", iris_csv, threshold_perc=99)


@pytest.fixture(scope="session")
def plain_wine_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CVM drift detector on wine saved by plain alibi-detect code (no inferwatch manifest)."""
    from alibi_detect.cd import CVMDrift
    from alibi_detect.saving import save_detector

    out = tmp_path_factory.mktemp("plain") / "cvm"
    save_detector(CVMDrift(load_wine().data.astype("float32")), str(out))
    return out


MakeCore = Callable[..., DetectorCore]


@pytest.fixture(scope="session")
def make_core() -> MakeCore:
    """``make_core(detector_dir, state_dir, **settings)``: a core as ``inferwatch detector serve`` builds it."""

    def make(detector: Path, state_dir: Path, **settings: Any) -> DetectorCore:
        return DetectorCore(DetectorSettings(detector=detector, state_dir=state_dir, **settings))

    return make


@pytest.fixture
def ks_core(ks_dir: Path, tmp_path: Path, make_core: MakeCore) -> DetectorCore:
    return make_core(ks_dir, tmp_path / "state", batch_size=50)
