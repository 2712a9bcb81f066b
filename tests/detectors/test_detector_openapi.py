"""The detector's OpenAPI: valid, every body described; the V2 metadata surface V2 clients probe."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from inferwatch import __version__
from inferwatch.detectors.app import create_app, create_detector_admin_app
from inferwatch.detectors.core import DetectorCore
from inferwatch.protocols import schemas
from tests.openapi_fuzz import check_openapi, openapi_problems


@pytest.fixture
def client(ks_core: DetectorCore) -> Iterator[TestClient]:
    with TestClient(create_app(ks_core.settings, ks_core), raise_server_exceptions=False) as c:
        yield c


def body_schema(doc: dict[str, Any], path: str, media: str = "application/json") -> Any:
    return doc["paths"][path]["post"]["requestBody"]["content"][media]["schema"]


def test_the_openapi_is_valid_and_describes_every_body(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    check_openapi(doc)
    assert body_schema(doc, "/v2/models/{name}/infer") == schemas.V2_INFERENCE_REQUEST
    assert body_schema(doc, "/send-feedback") == schemas.SELDON_FEEDBACK
    assert schemas.SELDON_MESSAGE in body_schema(doc, "/api/v1.0/predictions")["anyOf"]
    assert body_schema(doc, "/", "application/cloudevents+json") == schemas.CLOUDEVENT
    ce_type = next(p for p in doc["paths"]["/"]["post"]["parameters"] if p["name"] == "ce-type")
    assert "io.seldon.serving.inference.request" in ce_type["schema"]["enum"]


def test_the_admin_openapi_is_valid(ks_core: DetectorCore) -> None:
    check_openapi(create_detector_admin_app(ks_core).openapi())


def test_an_undeclared_path_parameter_is_a_problem() -> None:
    doc = {"paths": {"/v2/models/{name}/ready": {"get": {"responses": {}}}}}
    assert openapi_problems(doc) == ["GET /v2/models/{name}/ready: path parameters [] != ['name']"]


def test_server_metadata(client: TestClient) -> None:
    r = client.get("/v2")
    assert r.status_code == 200
    assert r.json() == {"name": "inferwatch", "version": __version__, "extensions": ["binary_tensor_data"]}


def test_model_metadata_lists_the_detector_inputs(client: TestClient, iris_names: list[str]) -> None:
    r = client.get("/v2/models/detector")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "detector" and body["platform"] == "alibi-detect"
    assert [i["name"] for i in body["inputs"]] == iris_names
    assert {i["datatype"] for i in body["inputs"]} == {"FP64"}
    assert "detector" in client.get("/metadata").json()  # the Seldon metadata keeps the detector's own


def test_model_ready_answers_its_name(client: TestClient) -> None:
    r = client.get("/v2/models/detector/ready")
    assert (r.status_code, r.json()) == (200, {"name": "detector", "ready": True})


@pytest.mark.parametrize("path", ["/v2/models/other", "/v2/models/other/ready", "/v2/models/other/infer"])
def test_another_model_name_is_404_naming_the_served_one(client: TestClient, path: str) -> None:
    r = client.post(path, json={"inputs": []}) if path.endswith("infer") else client.get(path)
    assert r.status_code == 404, r.text
    assert r.json()["error"] == {
        "type": "ModelNotFound",
        "message": "model 'other' not found; this server serves 'detector'",
    }
