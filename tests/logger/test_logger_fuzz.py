"""schemathesis against the logger, in process: the CloudEvents receiver and the proxy never answer 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inferwatch.logger.proxy import ProxyApp
from inferwatch.logger.receiver import create_receiver_app
from inferwatch.logger.service import LoggerService
from inferwatch.logger.settings import LoggerSettings
from tests.openapi_fuzz import fuzz, stop_lifespans
from tests.servers import serving

pytestmark = pytest.mark.slow


async def _echo(request: Request) -> Response:
    return Response(await request.body(), media_type=request.headers.get("content-type"))


@pytest.fixture
def echo_model() -> Iterator[str]:
    """An upstream that answers 200 with the request body: any 5xx is then the proxy's own."""
    with serving(Starlette(routes=[Route("/{path:path}", _echo, methods=["POST"])])) as url:
        yield url


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[type[LoggerService]]:
    started: list[LoggerService] = []

    def make(**fields: object) -> LoggerService:
        settings = LoggerSettings(
            metrics_port=0, spool_dir=tmp_path / "spool", sink=[f"sqlite:///{tmp_path / 'store.db'}"], **fields
        )  # type: ignore[arg-type]
        started.append(LoggerService(settings))
        started[-1].start()
        return started[-1]

    yield make  # type: ignore[misc]
    stop_lifespans()
    for service in started:
        service.stop()


def test_the_receiver_never_answers_5xx(make_service) -> None:  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_receiver_app(make_service(pairing_ttl=0.5)))
    assert fuzz(schema, max_examples=100) == ["POST /", "GET /health/live", "GET /health/ready"]


def test_the_proxy_never_answers_5xx(make_service, echo_model: str) -> None:  # type: ignore[no-untyped-def]
    proxy = ProxyApp(make_service(upstream=echo_model))
    schema = schemathesis.openapi.from_dict(proxy.openapi())
    schema.app = proxy
    assert "POST /v2/models/{name}/infer" in fuzz(schema, max_examples=60)
