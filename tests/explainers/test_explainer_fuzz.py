"""schemathesis against the explainer's OpenAPI (anchor_tabular over the demo iris model), in process: no 5xx."""

from __future__ import annotations

import pytest
import schemathesis

from inferwatch.explainers.app import create_app
from inferwatch.explainers.core import ExplainerCore
from inferwatch.explainers.settings import ExplainerSettings
from inferwatch.protocols import limits
from tests.explainers.conftest import IRIS_REFERENCE
from tests.openapi_fuzz import fuzz, stop_lifespans

pytestmark = pytest.mark.slow


def test_no_server_error_on_any_operation(demo_model: str) -> None:
    settings = ExplainerSettings(
        reference=IRIS_REFERENCE, option=["target=species", "seed=0"], model_url=demo_model, model_name="iris"
    )
    core = ExplainerCore(settings)
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings, core))
        fuzzed = fuzz(schema, path_parameters={"name": "iris"}, max_examples=50)
    finally:
        stop_lifespans()
        limits.configure(limits.DEFAULT_MAX_ELEMENTS)
    assert {"POST /v2/models/{name}/infer", "POST /explain", "GET /v2/models/{name}/ready"} <= set(fuzzed)
