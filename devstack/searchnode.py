"""What the Elasticsearch and OpenSearch services share: a JVM node run from Maven Central jars plus a
small launcher compiled here, loopback only, ready when cluster health is green or yellow for our cluster."""

from __future__ import annotations

import http.client
import json
import urllib.request
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from pydantic_settings import BaseSettings

from devstack.base import Service, ServicePaths
from devstack.javac import compile_java
from devstack.maven import resolve_classpath

HEALTHY = frozenset({"green", "yellow"})
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Probes go straight to 127.0.0.1, whatever ``http_proxy`` says."""


def cluster_health(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The body of ``GET {url}/_cluster/health``, or None if nothing (or something unparsable) answers."""
    try:
        with _DIRECT.open(f"{url}/_cluster/health", timeout=timeout) as resp:
            body = json.load(resp)
    except (OSError, ValueError, http.client.HTTPException):
        return None
    return body if isinstance(body, dict) else None


def is_healthy(url: str, cluster_name: str) -> bool:
    """True if ``url`` answers cluster health green or yellow for ``cluster_name`` (not some other node)."""
    body = cluster_health(url)
    return body is not None and body.get("cluster_name") == cluster_name and body.get("status") in HEALTHY


class JavaNodeSettings(BaseSettings):
    """The JDK and heap of a node; subclasses set the env prefix and the JDK default."""

    java_home: Path
    """Its ``java`` runs the node and its ``javac`` compiles the launcher."""
    heap: str = "512m"
    """JVM heap (-Xms and -Xmx). 512m holds the test suite's 10k-document bulks comfortably."""


class SearchNodeService(Service):
    """One search-engine node on 127.0.0.1 (HTTP on ``port``, transport on ``port + 100``)."""

    coordinates: ClassVar[tuple[str, ...]]
    launcher: ClassVar[str]
    """Folder of the launcher's Java sources under ``devstack/java``."""
    main_class: ClassVar[str]
    cluster_name: ClassVar[str]
    jvm_flags: ClassVar[tuple[str, ...]] = ()

    def __init__(self, paths: ServicePaths, port: int | None, settings: JavaNodeSettings) -> None:
        super().__init__(paths, port)
        self.settings = settings

    @property
    def transport_port(self) -> int:
        """Node-to-node port; fixed so it never wanders into another node's default 9300-9399 range."""
        return self.port + 100

    @property
    @abstractmethod
    def config_file(self) -> Path: ...

    @abstractmethod
    def main_args(self) -> list[str]:
        """The launcher's arguments."""

    def _classpath(self) -> list[Path]:
        return resolve_classpath(self.coordinates, self.paths.cache)

    def _classes(self) -> Path:
        sources = Path(__file__).parent / "java" / self.launcher
        out = self.paths.cache / "launchers" / self.launcher
        return compile_java(sources, self._classpath(), out, self.settings.java_home)

    def install(self) -> None:
        """Fetch the pinned jars into the cache and compile the launcher (both cached)."""
        self._classes()

    def write_config(self, settings: dict[str, Any]) -> None:
        """Write ``settings`` as the node's YAML config (JSON values are valid YAML)."""
        for d in (self.config_file.parent, self.paths.data / "tmp", self.paths.logs):
            d.mkdir(parents=True, exist_ok=True)
        base = {
            "discovery.type": "single-node",
            "network.host": "127.0.0.1",
            "transport.port": self.transport_port,
            # A nearly full disk must not turn the dev stack read-only (flood-stage watermark).
            "cluster.routing.allocation.disk.threshold_enabled": False,
        }
        merged = {**base, **settings}
        self.config_file.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in merged.items()) + "\n")

    def command(self) -> list[str]:
        cp = ":".join(str(p) for p in [self._classes(), *self._classpath()])
        heap = self.settings.heap
        return [
            str(self.settings.java_home / "bin" / "java"),
            f"-Xms{heap}",
            f"-Xmx{heap}",
            *self.jvm_flags,
            "-XX:+ExitOnOutOfMemoryError",
            "-Dfile.encoding=UTF-8",
            f"-Djava.io.tmpdir={self.paths.data / 'tmp'}",
            "-cp",
            cp,
            self.main_class,
            *self.main_args(),
        ]

    def env(self) -> dict[str, str]:
        return {"JAVA_HOME": str(self.settings.java_home)}

    def is_ready(self) -> bool:
        return is_healthy(self.url, self.cluster_name)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
