"""A real Seldon Core Python-wrapper model server (``seldon-core-microservice``, Seldon v1 protocol).

The wrapper imports the model class from ``<workdir>/<ClassName>.py`` and serves REST on
``http_port`` (``/api/v1.0/predictions``, ``/predict``, ``/health/ping``, ``/metadata``...), gRPC on
``grpc_port`` and Prometheus metrics on ``metrics_port``. NB: seldon-core 1.18 binds 0.0.0.0 (hard
coded); clients here only ever use 127.0.0.1.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from devstack.peers.iris import train_iris
from devstack.peers.process import PeerProcess, free_port
from devstack.peers.venvs import Venv


class SeldonServer(PeerProcess):
    """``seldon-core-microservice CLASS --service-type MODEL`` on free loopback ports.

    ``workdir`` must hold ``CLASS.py`` (and whatever the class loads); see ``prepare_iris``.
    """

    name = "seldon"
    ready_timeout = 180.0

    def __init__(
        self,
        venv: Venv,
        workdir: Path,
        model_class: str,
        *,
        http_port: int | None = None,
        grpc_port: int | None = None,
        metrics_port: int | None = None,
        model_name: str | None = None,
    ) -> None:
        super().__init__(workdir)
        self.venv = venv
        self.model_class = model_class
        self.model_name = model_name or model_class
        """The name clients log this model under (Seldon v1 URLs carry none); defaults to the class."""
        self.http_port = http_port or free_port()
        self.grpc_port = grpc_port or free_port()
        self.metrics_port = metrics_port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def predictions_url(self) -> str:
        """The Seldon v1 prediction endpoint."""
        return f"{self.url}/api/v1.0/predictions"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def argv(self) -> Sequence[str]:
        return [
            str(self.venv.bin("seldon-core-microservice")),
            self.model_class,
            "--service-type",
            "MODEL",
            "--http-port",
            str(self.http_port),
            "--grpc-port",
            str(self.grpc_port),
            "--metrics-port",
            str(self.metrics_port),
            "--workers",
            "1",
            "--log-level",
            "INFO",
        ]

    def env(self) -> dict[str, str]:
        # Keep TensorFlow (imported by the wrapper for tftensor) quiet and on one thread pool.
        return {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(self.workdir)}

    def ready_urls(self) -> Sequence[str]:
        return [f"{self.url}/health/ping", f"{self.url}/api/v1.0/health/status"]


def prepare_iris(venv: Venv, class_file: Path, workdir: Path) -> str:
    """Copy the model class file into ``workdir`` and train ``model.joblib`` beside it.

    Returns the class name (the file's stem), ready for ``SeldonServer(venv, workdir, name)``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(class_file, workdir / class_file.name)
    train_iris(venv, workdir / "model.joblib")
    return class_file.stem
