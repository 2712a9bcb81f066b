"""Reference data the explainers are fitted on: ``.npy``, ``.npz`` (``X``, optional ``y``,
``feature_names``) or ``.csv`` (a header row of feature names; option ``target=COLUMN`` picks the labels)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inferwatch.errors import ConfigError


@dataclass
class Reference:
    X: NDArray[Any]
    y: NDArray[Any] | None = None
    feature_names: list[str] = field(default_factory=list)

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1]) if self.X.ndim == 2 else 1


def load_reference(path: Path, target: str | None = None) -> Reference:
    """Read ``path``; ``ConfigError`` when it is missing or not one of the supported formats."""
    if not path.is_file():
        raise ConfigError(f"reference file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        ref = Reference(np.load(path, allow_pickle=False))
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "X" not in z:
                raise ConfigError(f"{path} has no array named X (found {', '.join(z.files)})")
            names = [str(n) for n in z["feature_names"]] if "feature_names" in z else []
            ref = Reference(z["X"], z.get("y", None), names)
    elif suffix == ".csv":
        ref = _csv(path, target)
    else:
        raise ConfigError(f"reference {path}: use .npy, .npz or .csv")
    if ref.X.ndim != 2 or ref.X.shape[0] == 0:
        raise ConfigError(f"reference {path} must be a non-empty 2-D table, got shape {list(ref.X.shape)}")
    if not ref.feature_names:
        ref.feature_names = [f"f{i}" for i in range(ref.n_features)]
    return ref


def _csv(path: Path, target: str | None) -> Reference:
    with path.open() as f:
        header = [h.strip() for h in f.readline().split(",")]
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    if target is None:
        return Reference(table, None, header)
    if target not in header:
        raise ConfigError(f"target column {target!r} is not in {path} (columns: {', '.join(header)})")
    j = header.index(target)
    keep = [i for i in range(len(header)) if i != j]
    return Reference(table[:, keep], table[:, j], [header[i] for i in keep])
