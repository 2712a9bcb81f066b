"""What a detector directory holds, and the fallback format for detectors alibi-detect cannot save.

Any ``save_detector`` directory (``config.toml`` + ``.npy``, or the legacy ``meta.dill`` format) is
loaded with alibi-detect's ``load_detector``. Without TensorFlow, ``save_detector`` fails for IForest
and Mahalanobis, so ``inferwatch detector fit`` saves those as ``detector.joblib`` plus the
``inferwatch.json`` manifest. Pickle-based files (dill, joblib, pickle) run code when loaded: they are
only read with ``trust_artifacts``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MANIFEST = "inferwatch.json"
JOBLIB_FILE = "detector.joblib"
JOBLIB_FORMAT = "inferwatch-joblib"
SAVE_DETECTOR_FORMAT = "alibi-detect"
UNSAFE_SUFFIXES = (".dill", ".pkl", ".pickle", ".joblib")


def read_manifest(path: Path) -> dict[str, Any]:
    """The ``inferwatch.json`` manifest of a directory, or ``{}`` when there is none."""
    file = path / MANIFEST
    if not file.is_file():
        return {}
    value = json.loads(file.read_text(encoding="utf-8"))
    return value if isinstance(value, dict) else {}


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def unsafe_files(path: Path) -> list[Path]:
    """Files under ``path`` whose loading unpickles (runs) code."""
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in UNSAFE_SUFFIXES)
