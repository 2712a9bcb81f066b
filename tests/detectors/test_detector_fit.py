"""Fitting from csv/npy/parquet with the CLI and saving with alibi-detect's own format or the joblib fallback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine

from inferwatch.cli import main
from inferwatch.detectors.artifacts import JOBLIB_FILE, MANIFEST
from inferwatch.detectors.fit import fit_detector, read_reference
from inferwatch.errors import ConfigError


def test_cli_fit_ks_saves_alibi_format_with_names(tmp_path: Path, iris_csv: Path, iris_names: list[str]) -> None:
    out = tmp_path / "ks"
    rc = main(
        ["detector", "fit", "--kind", "ks", "--reference", str(iris_csv), "--out", str(out), "--option", "p_val=0.01"]
    )
    assert rc == 0
    assert (out / "config.toml").is_file() and (out / "x_ref.npy").is_file()
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["format"] == "alibi-detect" and manifest["feature_names"] == iris_names
    assert "p_val = 0.01" in (out / "config.toml").read_text()


def test_fit_reads_npy(tmp_path: Path, iris_x: Any) -> None:
    np.save(tmp_path / "ref.npy", iris_x)
    x, names = read_reference(tmp_path / "ref.npy", ["w", "x", "y", "z"])
    assert x.shape == (150, 4) and names == ["w", "x", "y", "z"]
    assert read_reference(tmp_path / "ref.npy")[1] == ["f0", "f1", "f2", "f3"]


def test_parquet_reads_columns_and_names(tmp_path: Path, iris_x: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parquet goes through pandas (pyarrow); the engine is stubbed because the venv's pyarrow needs numpy 2."""
    (tmp_path / "ref.parquet").write_bytes(b"PAR1")
    seen: list[Path] = []

    def fake_read(path: Path) -> pd.DataFrame:
        seen.append(path)
        return pd.DataFrame(iris_x, columns=list("abcd"))

    monkeypatch.setattr(pd, "read_parquet", fake_read)
    x, names = read_reference(tmp_path / "ref.parquet")
    assert seen == [tmp_path / "ref.parquet"] and np.array_equal(x, iris_x) and names == list("abcd")


def test_parquet_without_engine_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ref.parquet").write_bytes(b"PAR1")

    def no_engine(path: Path) -> pd.DataFrame:
        raise ImportError("Unable to find a usable engine")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    with pytest.raises(ConfigError, match="needs pyarrow"):
        read_reference(tmp_path / "ref.parquet")


def test_bad_reference_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_reference(tmp_path / "missing.csv")
    (tmp_path / "ref.txt").write_text("1,2\n")
    with pytest.raises(ConfigError, match=r"csv, \.npy or \.parquet"):
        read_reference(tmp_path / "ref.txt")
    pd.DataFrame({"a": ["x", "y"]}).to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(ConfigError, match="numeric"):
        read_reference(tmp_path / "text.csv")
    np.save(tmp_path / "r.npy", np.zeros((3, 2)))
    with pytest.raises(ConfigError, match="1 feature names given for 2 columns"):
        read_reference(tmp_path / "r.npy", ["only"])


@pytest.mark.parametrize("kind", ["iforest", "mahalanobis"])
def test_outlier_kinds_fall_back_to_joblib(tmp_path: Path, iris_csv: Path, kind: str) -> None:
    fmt = fit_detector(kind, iris_csv, tmp_path / kind, progress=False)
    assert fmt == "inferwatch-joblib"
    assert (tmp_path / kind / JOBLIB_FILE).is_file()
    assert json.loads((tmp_path / kind / MANIFEST).read_text())["detector_type"] == "outlier"


@pytest.mark.parametrize(("kind", "options"), [("chisquare", {}), ("tabular", {}), ("fet", {}), ("cvm", {})])
def test_drift_kinds_fit_and_save(tmp_path: Path, kind: str, options: dict[str, Any]) -> None:
    x = load_wine().data
    if kind in ("chisquare", "fet"):
        x = (x > np.median(x, axis=0)).astype(np.int64)  # binary/categorical data these tests need
    np.save(tmp_path / "ref.npy", x)
    assert fit_detector(kind, tmp_path / "ref.npy", tmp_path / kind, options=options, progress=False) == "alibi-detect"
    assert (tmp_path / kind / "config.toml").is_file()


def test_cli_fit_unknown_option_exits_2(tmp_path: Path, iris_csv: Path) -> None:
    rc = main(
        [
            "detector",
            "fit",
            "--kind",
            "ks",
            "--reference",
            str(iris_csv),
            "--out",
            str(tmp_path / "o"),
            "--option",
            "bogus=1",
        ]
    )
    assert rc == 2
