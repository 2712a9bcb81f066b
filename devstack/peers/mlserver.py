"""A real MLServer (Open Inference Protocol / V2) serving scikit-learn iris models.

``mlserver start WORKDIR`` reads ``WORKDIR/settings.json`` (ports, host) and one
``WORKDIR/<model>/model-settings.json`` per model. ``prepare_iris`` writes two models:
- ``iris``: one ``[n, 4]`` FP32 input, answers ``predict`` (or ``predict_proba`` when asked
  through the request's ``outputs``);
- ``iris-features``: four named ``[n, 1]`` FP32 inputs decoded as a pandas DataFrame (content type
  ``pd``) by a model trained on those column names; answers ``predict_proba``.

``prepare_detector`` writes a model served by MLServer's alibi-detect runtime (``mlserver-alibi-detect``,
venv ``MLSERVER_ALIBI_DETECT``) from any directory written by alibi-detect's ``save_detector``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devstack.peers.iris import FEATURE_NAMES, train_iris
from devstack.peers.process import PeerProcess, free_port
from devstack.peers.venvs import Venv

IRIS = "iris"
IRIS_FEATURES = "iris-features"
ALIBI_DETECT_RUNTIME = "mlserver_alibi_detect.AlibiDetectRuntime"


class MLServerServer(PeerProcess):
    """``mlserver start WORKDIR`` on free loopback ports; ready once every model in ``models`` is."""

    name = "mlserver"
    ready_timeout = 180.0

    def __init__(
        self,
        venv: Venv,
        workdir: Path,
        models: Sequence[str],
        *,
        http_port: int | None = None,
        grpc_port: int | None = None,
        metrics_port: int | None = None,
    ) -> None:
        super().__init__(workdir)
        self.venv = venv
        self.models = tuple(models)
        self.http_port = http_port or free_port()
        self.grpc_port = grpc_port or free_port()
        self.metrics_port = metrics_port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def infer_url(self, model: str) -> str:
        """``/v2/models/MODEL/infer``."""
        return f"{self.url}/v2/models/{model}/infer"

    def settings(self) -> dict[str, Any]:
        """The server-wide ``settings.json``; inference runs in the main process (2-core machine)."""
        return {
            "debug": False,
            "host": "127.0.0.1",
            "http_port": self.http_port,
            "grpc_port": self.grpc_port,
            "metrics_port": self.metrics_port,
            "parallel_workers": 0,
            "load_models_at_startup": True,
        }

    def start(self) -> MLServerServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "settings.json").write_text(json.dumps(self.settings(), indent=2))
        return super().start()

    def argv(self) -> Sequence[str]:
        return [str(self.venv.bin("mlserver")), "start", str(self.workdir)]

    def env(self) -> dict[str, str]:
        return {"PYTHONUNBUFFERED": "1"}

    def ready_urls(self) -> Sequence[str]:
        return [f"{self.url}/v2/health/ready", *(f"{self.url}/v2/models/{m}/ready" for m in self.models)]


def _tensor(name: str, shape: list[int]) -> dict[str, Any]:
    return {"name": name, "datatype": "FP32", "shape": shape}


def _model_settings(name: str, inputs: list[dict[str, Any]], **parameters: Any) -> dict[str, Any]:
    return {
        "name": name,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "inputs": inputs,
        "parameters": {"uri": "./model.joblib", "version": "v1", **parameters},
    }


def prepare_iris(venv: Venv, workdir: Path) -> tuple[str, ...]:
    """Write and train the ``iris`` and ``iris-features`` models under ``workdir``; returns their names."""
    models = {
        IRIS: _model_settings(IRIS, [_tensor("input-0", [-1, 4])]),
        IRIS_FEATURES: _model_settings(
            IRIS_FEATURES,
            [_tensor(feature, [-1, 1]) for feature in FEATURE_NAMES],
            content_type="pd",
            extra={"predict_fn": "predict_proba"},
        ),
    }
    for name, model_settings in models.items():
        model_dir = workdir / name
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
        train_iris(venv, model_dir / "model.joblib", named_columns=name == IRIS_FEATURES)
    return tuple(models)


def prepare_detector(
    workdir: Path,
    name: str,
    detector_dir: Path,
    *,
    batch_size: int | None = None,
    predict_parameters: dict[str, Any] | None = None,
) -> str:
    """Write ``workdir/<name>/model-settings.json`` serving ``detector_dir`` (a ``save_detector`` directory,
    loaded by the runtime with ``load_detector`` from ``parameters.uri``); returns ``name``.

    Without ``batch_size`` every request is one ``predict`` call on all its rows; with it the runtime
    collects that many *requests* and answers the others with no outputs. ``predict_parameters`` are passed
    to the detector's ``predict`` (e.g. ``{"drift_type": "feature"}``).
    """
    extra: dict[str, Any] = {}
    if batch_size is not None:
        extra["batch_size"] = batch_size
    if predict_parameters:
        extra["predict_parameters"] = predict_parameters
    settings = {
        "name": name,
        "implementation": ALIBI_DETECT_RUNTIME,
        "parameters": {"uri": str(detector_dir.resolve()), "version": "v1", "extra": extra},
    }
    model_dir = workdir / name
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model-settings.json").write_text(json.dumps(settings, indent=2))
    return name
