"""Session-scoped pytest fixtures for the real peer model servers.

``seldon_model_server`` (Seldon Core Python wrapper, Seldon v1) and ``mlserver_model_server``
(MLServer, V2) build their cached venvs on first use, train the iris models inside them, start the
servers on free 127.0.0.1 ports and stop them (by process group) when the session ends. Every test
that uses one gets the ``peers`` marker, so ``-m "not peers"`` leaves them out.
Enable with ``pytest_plugins = ["devstack.peers.pytest_fixtures"]``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.peers import mlserver, seldon
from devstack.peers.venvs import MLSERVER, SELDON, ensure_venv

log = logging.getLogger(__name__)

PEER_FIXTURES = frozenset({"seldon_model_server", "mlserver_model_server"})
FIXTURES_DIR = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "peers"
SELDON_CLASS_FILE = FIXTURES_DIR / "seldon" / "IrisModel.py"
"""The Seldon user-model class the wrapper serves (lives with the test fixtures)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a peer server fixture with ``peers``."""
    for item in items:
        if PEER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.peers)


@pytest.fixture(scope="session")
def seldon_model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[seldon.SeldonServer]:
    """A running ``seldon-core-microservice IrisModel``; ``.url``, ``.predictions_url``, ``.model_name``."""
    started = time.monotonic()
    venv = ensure_venv(SELDON)
    workdir = tmp_path_factory.mktemp("seldon-peer")
    model_class = seldon.prepare_iris(venv, SELDON_CLASS_FILE, workdir)
    with seldon.SeldonServer(venv, workdir, model_class, model_name="iris") as server:
        log.info("seldon peer ready at %s in %.1fs", server.url, time.monotonic() - started)
        yield server


@pytest.fixture(scope="session")
def mlserver_model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[mlserver.MLServerServer]:
    """A running MLServer with models ``iris`` and ``iris-features``; ``.url``, ``.models``."""
    started = time.monotonic()
    venv = ensure_venv(MLSERVER)
    workdir = tmp_path_factory.mktemp("mlserver-peer")
    models = mlserver.prepare_iris(venv, workdir)
    with mlserver.MLServerServer(venv, workdir, models) as server:
        log.info("mlserver peer ready at %s in %.1fs", server.url, time.monotonic() - started)
        yield server
