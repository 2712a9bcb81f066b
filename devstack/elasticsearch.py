"""Elasticsearch core node from Maven Central jars, run by a small Java launcher in this repository.

The server jar and ``transport-netty4`` are on Maven Central; the modules that ship only in Elastic's
distribution are not (``GET /``, analysis-common, painless, ingest, x-pack). So the node serves the core
APIs only: bulk, index templates, search, get, count, core aggregations, cluster health. Readiness is
``GET /_cluster/health``. The launcher (``devstack/java/elasticsearch``) is compiled with the Temurin 25
``javac`` into the cache, once per content hash of its sources and classpath.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from devstack.base import ServicePaths
from devstack.searchnode import JavaNodeSettings, SearchNodeService

ES_VERSION = "9.5.3"
"""Pinned exactly: the launcher calls package-private node-construction APIs that change between versions."""
COORDINATES = (
    f"org.elasticsearch:elasticsearch:{ES_VERSION}",
    f"org.elasticsearch.plugin:transport-netty4:{ES_VERSION}",
)
MAIN_CLASS = "org.elasticsearch.node.DevstackNode"
CLUSTER_NAME = "inferwatch-devstack-es"


class ElasticsearchSettings(JavaNodeSettings):
    """How the dev-stack Elasticsearch node is run (``INFERWATCH_DEVSTACK_ELASTICSEARCH_*``)."""

    model_config = SettingsConfigDict(env_prefix="INFERWATCH_DEVSTACK_ELASTICSEARCH_", extra="ignore")

    java_home: Path = Path("/usr/lib/jvm/temurin-25-jdk-amd64")
    """A JDK 21+ (Elasticsearch 9.x needs it)."""


class ElasticsearchService(SearchNodeService):
    """One Elasticsearch core node on 127.0.0.1 (HTTP on ``port``, transport on ``port + 100``)."""

    name = "elasticsearch"
    default_port = 19200
    coordinates = COORDINATES
    launcher = "elasticsearch"
    main_class = MAIN_CLASS
    cluster_name = CLUSTER_NAME
    jvm_flags = ("-XX:+UseG1GC", "--enable-native-access=ALL-UNNAMED")

    def __init__(
        self, paths: ServicePaths, port: int | None = None, settings: ElasticsearchSettings | None = None
    ) -> None:
        super().__init__(paths, port, settings or ElasticsearchSettings())

    @property
    def config_file(self) -> Path:
        return self.paths.data / "config" / "elasticsearch.yml"

    def prepare(self) -> None:
        """Write ``config/elasticsearch.yml`` under the data dir (``path.home``); data and logs beside it."""
        self.write_config(
            {
                "cluster.name": CLUSTER_NAME,
                "node.name": "devstack-es",
                "path.home": str(self.paths.data),
                "path.data": str(self.paths.data / "data"),
                "path.logs": str(self.paths.logs),
                "http.port": self.port,
                # The real-memory breaker assumes the distribution's JVM options; with a small heap it trips.
                "indices.breaker.total.use_real_memory": False,
                "logger.level": "INFO",
            }
        )

    def main_args(self) -> list[str]:
        return [str(self.config_file)]
