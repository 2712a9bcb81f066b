"""Fixtures for the explainer tests: the iris reference file and an explainer served on a free port."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inferwatch.demo.model_server import create_model_app, train_iris
from inferwatch.explainers.app import create_app
from inferwatch.explainers.core import ExplainerCore
from inferwatch.explainers.settings import ExplainerSettings
from tests.servers import serving

IRIS_REFERENCE = Path(__file__).resolve().parents[1] / "testdata" / "explainers" / "iris_reference.csv"
SETOSA = [5.1, 3.5, 1.4, 0.2]
VIRGINICA = [6.7, 3.0, 5.2, 2.3]


@contextlib.contextmanager
def explainer(**fields: Any) -> Iterator[tuple[str, ExplainerCore]]:
    """An explainer app (lifespan: fit) served on a free port; yields its URL and core."""
    fields.setdefault("reference", IRIS_REFERENCE)
    fields.setdefault("option", ["target=species", "seed=0"])
    settings = ExplainerSettings(**fields)
    core = ExplainerCore(settings)
    with serving(create_app(settings, core)) as url:
        yield url, core


@pytest.fixture(scope="module")
def demo_model() -> Iterator[str]:
    """The project's demo iris model (Seldon, KServe v1 and V2 routes) on a free port."""
    with serving(create_model_app(train_iris())) as url:
        yield url
