"""The one small base every dev-stack service implements.

A service is a real server (Kafka, Elasticsearch, OpenSearch, Prometheus) started on 127.0.0.1 by the
project's own code. ``devstack.stack`` owns the lifecycle (state directory, pid files, start, readiness
wait, stop by pid, status); a service only says how to install, configure, launch and probe itself.
Adding a service is one file and one row in ``devstack.services.SERVICES``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


@dataclass(frozen=True)
class ServicePaths:
    """Where one service keeps its things. ``data`` and ``logs`` live under the stack's state dir."""

    data: Path
    logs: Path
    cache: Path
    """Shared download cache (``~/.cache/inferwatch`` by default), reused across runs and CI."""

    @property
    def log_file(self) -> Path:
        return self.logs / "server.log"


class Service(ABC):
    """A real server the dev stack can start and stop."""

    name: ClassVar[str]
    default_port: ClassVar[int]
    ready_timeout: ClassVar[float] = 120.0

    def __init__(self, paths: ServicePaths, port: int | None = None) -> None:
        self.paths = paths
        self.port = port or self.default_port

    @abstractmethod
    def install(self) -> None:
        """Fetch what the server needs (Maven jars, Debian packages) into the cache; idempotent."""

    @abstractmethod
    def prepare(self) -> None:
        """Write configuration and initialise storage under ``paths.data``; idempotent."""

    @abstractmethod
    def command(self) -> list[str]:
        """The argv that runs the server in the foreground (the stack detaches it)."""

    def env(self) -> dict[str, str]:
        """Extra environment variables for the server process."""
        return {}

    @abstractmethod
    def is_ready(self) -> bool:
        """True once the server really serves (a metadata call, cluster health...), never raises."""

    @property
    @abstractmethod
    def url(self) -> str:
        """How clients reach it: ``127.0.0.1:PORT`` for Kafka, ``http://127.0.0.1:PORT`` for HTTP servers."""
