"""The benchmark's model: one RandomForest fitted on iris, saved once, used by every variant.

``fit_model`` fits and saves it (joblib, in the run's own work dir); the in-process baseline loads that file
and ``python -m bench.explainers.model --model FILE --port P`` serves the same file behind the project's demo
model server (``inferwatch.demo.model_server``: Seldon v1, V2 and KServe v1 routes, the shared codecs),
uvicorn with uvloop and httptools, one worker, on 127.0.0.1.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import joblib
import uvicorn

from inferwatch.demo.model_server import IrisModel, create_model_app, write_iris_reference

TREES = 50
SEED = 0


def fit_model(workdir: Path) -> tuple[Path, Path]:
    """Fit the RandomForest on iris, save it; write the reference CSV. Returns ``(model_file, reference_csv)``."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    data = load_iris()
    forest = RandomForestClassifier(n_estimators=TREES, random_state=SEED).fit(data.data, data.target)
    model_file = workdir / "iris-forest.joblib"
    joblib.dump(IrisModel(forest, [str(n) for n in data.target_names]), model_file)
    return model_file, write_iris_reference(workdir / "iris-reference.csv")


def load_model(model_file: Path) -> IrisModel:
    """The model ``fit_model`` saved (a file this run wrote itself)."""
    model: Any = joblib.load(model_file)
    if not isinstance(model, IrisModel):
        raise TypeError(f"{model_file} does not hold an IrisModel")
    return model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Serve the explainer benchmark's model on 127.0.0.1.")
    p.add_argument("--model", type=Path, required=True, help="file written by fit_model")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    uvicorn.run(
        create_model_app(load_model(args.model)),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
