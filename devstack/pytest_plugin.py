"""pytest fixtures that start the real dev-stack servers a test needs, and only those.

A server starts the first time a selected test needs it, either by asking for a fixture
(``kafka_bootstrap``, ``prometheus_service``, ``elasticsearch_url``, ``opensearch_url``...) or by carrying
the marker (``@pytest.mark.kafka``, ``elasticsearch``, ``opensearch``, ``prometheus``). It then serves the
rest of the session. At session end the plugin stops, by pid, exactly the servers this session started;
servers that were already running (a developer ran ``inferwatch devstack up``) are reused and left running.
``--devstack-keep`` leaves everything running for the next session.

``unique_name`` and ``kafka_topic`` give each test its own topic and index names.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator

import pytest

from devstack.base import Service
from devstack.kafka import KafkaService
from devstack.prometheus import PrometheusService
from devstack.stack import Stack

MARKER_SERVICES = ("kafka", "elasticsearch", "opensearch", "prometheus")
"""Markers that bring up the dev-stack service of the same name."""


class SessionStack:
    """The dev stack as one pytest session sees it: which services it started and must stop."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.owned: list[str] = []
        self._seen: set[str] = set()

    def ensure(self, name: str) -> Service:
        """Bring ``name`` up (idempotent) and return it; remember it if this session started it."""
        if name in self._seen and self.stack.running(name) is not None:
            return self.stack.service(name)
        status = self.stack.up_one(name)
        if name not in self._seen:
            self._seen.add(name)
            if status.started:
                self.owned.append(name)
        return self.stack.service(name)

    def close(self) -> None:
        """Stop what this session started, newest first."""
        for name in reversed(self.owned):
            self.stack.down_one(name)
        self.owned.clear()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("devstack").addoption(
        "--devstack-keep",
        action="store_true",
        default=False,
        help="leave the dev-stack servers this session started running at the end",
    )


@pytest.fixture(scope="session")
def devstack(request: pytest.FixtureRequest) -> Iterator[SessionStack]:
    """The session's dev stack (``devstack.stack`` lifecycle under ``INFERWATCH_HOME``)."""
    session = SessionStack(Stack())
    yield session
    if not request.config.getoption("--devstack-keep"):
        session.close()


@pytest.fixture(scope="session")
def kafka_service(devstack: SessionStack) -> KafkaService:
    svc = devstack.ensure("kafka")
    assert isinstance(svc, KafkaService)
    return svc


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_service: KafkaService) -> str:
    """``127.0.0.1:PORT`` of the dev-stack broker; topics are auto-created on first use."""
    return kafka_service.url


@pytest.fixture(scope="session")
def prometheus_service(devstack: SessionStack) -> PrometheusService:
    """The dev-stack Prometheus; register targets with ``add_scrape_target``."""
    svc = devstack.ensure("prometheus")
    assert isinstance(svc, PrometheusService)
    return svc


@pytest.fixture(scope="session")
def elasticsearch_service(devstack: SessionStack) -> Service:
    return devstack.ensure("elasticsearch")


@pytest.fixture(scope="session")
def elasticsearch_url(elasticsearch_service: Service) -> str:
    """``http://127.0.0.1:PORT`` of the dev-stack Elasticsearch node."""
    return elasticsearch_service.url


@pytest.fixture(scope="session")
def opensearch_service(devstack: SessionStack) -> Service:
    return devstack.ensure("opensearch")


@pytest.fixture(scope="session")
def opensearch_url(opensearch_service: Service) -> str:
    """``http://127.0.0.1:PORT`` of the dev-stack OpenSearch node."""
    return opensearch_service.url


@pytest.fixture(autouse=True)
def _devstack_markers(request: pytest.FixtureRequest) -> None:
    """Start the service named by each dev-stack marker on the test (lazily, once per session)."""
    for name in MARKER_SERVICES:
        if request.node.get_closest_marker(name) is not None:
            request.getfixturevalue("devstack").ensure(name)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``unique_name("orders") -> "orders-test-foo-1a2b3c4d"``: valid as a Kafka topic and an index name."""
    test = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]

    def make(prefix: str = "t") -> str:
        return f"{prefix.lower()}-{test}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def kafka_topic(unique_name: Callable[[str], str], kafka_bootstrap: str) -> str:
    """A topic name no other test uses (created by the broker on first produce)."""
    return unique_name("topic")
