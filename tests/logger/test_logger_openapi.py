"""The logger's OpenAPI: the CloudEvents receiver's (served at /openapi.json) and the proxy's (ProxyApp.openapi())."""

from __future__ import annotations

from pathlib import Path

from inferwatch.logger.app import create_logger_admin_app
from inferwatch.logger.proxy import ProxyApp
from inferwatch.logger.receiver import create_receiver_app
from inferwatch.logger.service import LoggerService
from inferwatch.logger.settings import LoggerSettings
from inferwatch.protocols import schemas
from tests.openapi_fuzz import check_openapi


def service(tmp_path: Path, **fields: object) -> LoggerService:
    return LoggerService(LoggerSettings(metrics_port=0, spool_dir=tmp_path / "spool", **fields))  # type: ignore[arg-type]


def test_the_receiver_openapi_is_valid_and_describes_both_modes(tmp_path: Path) -> None:
    doc = create_receiver_app(service(tmp_path)).openapi()
    check_openapi(doc)
    post = doc["paths"]["/"]["post"]
    assert post["requestBody"]["content"]["application/cloudevents+json"]["schema"] == schemas.CLOUDEVENT
    ce_type = next(p for p in post["parameters"] if p["name"] == "ce-type")
    assert {"io.seldon.serving.inference.request", "org.kubeflow.serving.inference.response"} <= set(
        ce_type["schema"]["enum"]
    )


def test_the_proxy_openapi_is_valid_and_describes_the_model_routes(tmp_path: Path) -> None:
    doc = ProxyApp(service(tmp_path, upstream="http://127.0.0.1:9")).openapi()
    check_openapi(doc, error_statuses=("502", "504"))
    body = doc["paths"]["/v2/models/{name}/infer"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == schemas.V2_INFERENCE_REQUEST


def test_the_admin_openapi_is_valid(tmp_path: Path) -> None:
    check_openapi(create_logger_admin_app(service(tmp_path)).openapi())
