"""The explainer's OpenAPI: valid (every path parameter declared), every body described; the V2 metadata surface."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from inferwatch import __version__
from inferwatch.explainers.app import create_app, create_explainer_admin_app
from inferwatch.explainers.core import ExplainerCore
from inferwatch.explainers.settings import ExplainerSettings
from inferwatch.protocols import schemas
from tests.explainers.conftest import IRIS_REFERENCE
from tests.openapi_fuzz import check_openapi


@pytest.fixture(scope="module")
def client(demo_model: str) -> Iterator[TestClient]:
    settings = ExplainerSettings(
        reference=IRIS_REFERENCE, option=["target=species", "seed=0"], model_url=demo_model, model_name="iris"
    )
    core = ExplainerCore(settings)
    with TestClient(create_app(settings, core), raise_server_exceptions=False) as c:
        c.app_state = core  # type: ignore[attr-defined]
        yield c


def body_schema(doc: dict[str, Any], path: str) -> Any:
    return doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]


def test_the_openapi_is_valid_and_describes_every_body(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    check_openapi(doc)  # GET /v2/models/{name}/ready used to leave {name} undeclared
    assert body_schema(doc, "/v2/models/{name}/infer") == schemas.V2_INFERENCE_REQUEST
    assert body_schema(doc, "/api/v1.0/explain") == schemas.SELDON_EXPLAIN_REQUEST
    assert body_schema(doc, "/v1/models/{name}:explain") == schemas.KSERVE_V1_EXPLAIN_REQUEST
    assert body_schema(doc, "/explain") == schemas.EXPLAIN_REQUEST


def test_the_admin_openapi_is_valid(client: TestClient) -> None:
    check_openapi(create_explainer_admin_app(client.app_state).openapi())  # type: ignore[attr-defined]


def test_server_metadata(client: TestClient) -> None:
    r = client.get("/v2")
    assert (r.status_code, r.json()) == (200, {"name": "inferwatch", "version": __version__, "extensions": []})


def test_model_metadata_once_fitted(client: TestClient) -> None:
    r = client.get("/v2/models/iris")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "name": "iris",
        "versions": [],
        "platform": "alibi-explain:anchor_tabular",
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}],
        "outputs": [{"name": "explanation", "datatype": "BYTES", "shape": [-1, 1]}],
    }


def test_model_ready_answers_its_name(client: TestClient) -> None:
    r = client.get("/v2/models/iris/ready")
    assert (r.status_code, r.json()) == (200, {"name": "iris", "ready": True})


@pytest.mark.parametrize("path", ["/v2/models/other", "/v2/models/other/ready", "/v2/models/other/infer"])
def test_another_model_name_is_404_naming_the_served_one(client: TestClient, path: str) -> None:
    r = client.post(path, json={"inputs": []}) if path.endswith("infer") else client.get(path)
    assert r.status_code == 404, r.text
    assert r.json()["error"] == {
        "type": "ModelNotFound",
        "message": "model 'other' not found; this server serves 'iris'",
    }
