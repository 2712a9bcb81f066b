"""Elasticsearch core node from Maven Central jars, run by a small Java launcher in this repository.

The server jar and ``transport-netty4`` are on Maven Central; the modules that ship only in Elastic's
distribution are not (``GET /``, analysis-common, painless, ingest, x-pack). So the node serves the core
APIs only: bulk, index templates, search, get, count, core aggregations, cluster health. Readiness is
``GET /_cluster/health``. The launcher (``devstack/java/elasticsearch``) is compiled with the Temurin 25
``javac`` into the cache, once per content hash of its sources and classpath.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from devstack.base import Service, ServicePaths
from devstack.javac import compile_java
from devstack.maven import resolve_classpath
from devstack.search_health import is_healthy

ES_VERSION = "9.5.3"
"""Pinned exactly: the launcher calls package-private node-construction APIs that change between versions."""
COORDINATES = (
    f"org.elasticsearch:elasticsearch:{ES_VERSION}",
    f"org.elasticsearch.plugin:transport-netty4:{ES_VERSION}",
)
LAUNCHER_SOURCES = Path(__file__).parent / "java" / "elasticsearch"
MAIN_CLASS = "org.elasticsearch.node.DevstackNode"
CLUSTER_NAME = "inferwatch-devstack-es"


class ElasticsearchSettings(BaseSettings):
    """How the dev-stack Elasticsearch node is run (``INFERWATCH_DEVSTACK_ELASTICSEARCH_*``)."""

    model_config = SettingsConfigDict(env_prefix="INFERWATCH_DEVSTACK_ELASTICSEARCH_", extra="ignore")

    java_home: Path = Path("/usr/lib/jvm/temurin-25-jdk-amd64")
    """A JDK 21+ (Elasticsearch 9.x needs it); its ``javac`` compiles the launcher."""
    heap: str = "512m"
    """JVM heap (-Xms and -Xmx). 512m holds the test suite's 10k-document bulks comfortably."""


class ElasticsearchService(Service):
    """One Elasticsearch core node on 127.0.0.1 (HTTP on ``port``, transport on ``port + 100``)."""

    name = "elasticsearch"
    default_port = 19200

    def __init__(
        self, paths: ServicePaths, port: int | None = None, settings: ElasticsearchSettings | None = None
    ) -> None:
        super().__init__(paths, port)
        self.settings = settings or ElasticsearchSettings()

    @property
    def transport_port(self) -> int:
        """Node-to-node port; fixed so it never wanders into another node's default 9300-9399 range."""
        return self.port + 100

    @property
    def config_file(self) -> Path:
        return self.paths.data / "config" / "elasticsearch.yml"

    def _classpath(self) -> list[Path]:
        return resolve_classpath(COORDINATES, self.paths.cache)

    def _classes(self) -> Path:
        out = self.paths.cache / "launchers" / "elasticsearch"
        return compile_java(LAUNCHER_SOURCES, self._classpath(), out, self.settings.java_home)

    def install(self) -> None:
        """Fetch the pinned server jars into the cache and compile the launcher (both cached)."""
        self._classes()

    def prepare(self) -> None:
        """Write ``config/elasticsearch.yml`` under the data dir (``path.home``); data and logs beside it."""
        for d in (self.config_file.parent, self.paths.data / "tmp", self.paths.logs):
            d.mkdir(parents=True, exist_ok=True)
        settings = {
            "cluster.name": CLUSTER_NAME,
            "node.name": "devstack-es",
            "path.home": str(self.paths.data),
            "path.data": str(self.paths.data / "data"),
            "path.logs": str(self.paths.logs),
            "discovery.type": "single-node",
            "network.host": "127.0.0.1",
            "http.port": self.port,
            "transport.port": self.transport_port,
            # The real-memory breaker assumes the distribution's JVM options; with a small heap it trips.
            "indices.breaker.total.use_real_memory": False,
            # A nearly full disk must not turn the dev stack read-only (flood-stage watermark).
            "cluster.routing.allocation.disk.threshold_enabled": False,
            "logger.level": "INFO",
        }
        # JSON is valid YAML: no YAML writer needed.
        self.config_file.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in settings.items()) + "\n")

    def command(self) -> list[str]:
        cp = ":".join(str(p) for p in [self._classes(), *self._classpath()])
        heap = self.settings.heap
        return [
            str(self.settings.java_home / "bin" / "java"),
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError",
            "-Dfile.encoding=UTF-8",
            "--enable-native-access=ALL-UNNAMED",
            f"-Djava.io.tmpdir={self.paths.data / 'tmp'}",
            "-cp",
            cp,
            MAIN_CLASS,
            str(self.config_file),
        ]

    def env(self) -> dict[str, str]:
        return {"JAVA_HOME": str(self.settings.java_home)}

    def is_ready(self) -> bool:
        return is_healthy(self.url, CLUSTER_NAME)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
