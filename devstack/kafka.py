"""Apache Kafka 4.x, one KRaft node in combined mode (broker + controller), from Maven Central jars.

The jars (``kafka_2.13`` plus a log4j2 backend: Kafka 4.x logs through slf4j 1.7 and bundles none) are
resolved by ``devstack.maven`` into the shared cache. ``prepare`` writes ``server.properties`` and, on first
start only, formats the storage with ``kafka.tools.StorageTool``. Readiness is a real metadata call
(``DescribeCluster``) that must name the cluster id this node was formatted with.
"""

from __future__ import annotations

import base64
import logging
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from devstack.base import Service, ServicePaths
from devstack.maven import resolve_classpath
from devstack.stack import ensure_commands
from inferwatch.errors import InferwatchError

KAFKA_VERSION = "4.3.1"
"""kafka-python 3.0.x supports brokers up to 4.3."""
LOG4J_VERSION = "2.24.3"
COORDINATES = (
    f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}",
    f"org.apache.logging.log4j:log4j-core:{LOG4J_VERSION}",
    f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J_VERSION}",
)
NODE_ID = 1

LOG4J2_PROPERTIES = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
"""


def _accepts(port: int) -> bool:
    """True if 127.0.0.1:``port`` accepts a TCP connection (spares the client's retry logging)."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class KafkaStorageError(InferwatchError):
    """``StorageTool format`` failed; the message names its log file."""

    status_code = 503


class KafkaSettings(BaseSettings):
    """How the dev-stack broker runs (``INFERWATCH_DEVSTACK_KAFKA_*``; its port: ``DevstackSettings``)."""

    model_config = SettingsConfigDict(env_prefix="INFERWATCH_DEVSTACK_KAFKA_", extra="ignore")

    controller_port: int | None = Field(default=None, ge=1, le=65535)
    """KRaft controller listener; default: the broker port + 1 (19093)."""
    java_home: Path | None = None
    """A JDK 17+; default: the ``java`` on PATH."""
    heap: str = "512m"
    num_partitions: int = Field(default=3, ge=1)
    """Partitions of auto-created topics."""


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as ``Uuid.randomUuid``)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class KafkaService(Service):
    """A single-node KRaft Kafka on 127.0.0.1 (PLAINTEXT on ``port``, CONTROLLER on ``controller_port``)."""

    name = "kafka"
    default_port = 19092
    ready_timeout = 120.0

    def __init__(self, paths: ServicePaths, port: int | None = None, settings: KafkaSettings | None = None) -> None:
        super().__init__(paths, port)
        self.settings = settings or KafkaSettings()
        self.controller_port = self.settings.controller_port or self.port + 1

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.paths.data / "server.properties"

    @property
    def log_dir(self) -> Path:
        return self.paths.data / "kraft"

    @property
    def java(self) -> str:
        if self.settings.java_home is not None:
            return str(self.settings.java_home / "bin" / "java")
        return shutil.which("java") or "java"

    def _classpath(self) -> list[Path]:
        return resolve_classpath(COORDINATES, self.paths.cache)

    def install(self) -> None:
        """Install Java and Maven if missing (apt-get), then resolve the jars into the cache (once)."""
        needed = {"mvn": "maven"} if self.settings.java_home else {"java": "default-jre-headless", "mvn": "maven"}
        ensure_commands(needed, self.paths.cache / "apt" / "kafka.log")
        self._classpath()

    def properties(self) -> dict[str, str]:
        """``server.properties`` for KRaft combined mode on loopback, sized for tests."""
        return {
            "process.roles": "broker,controller",
            "node.id": str(NODE_ID),
            "controller.quorum.voters": f"{NODE_ID}@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.log_dir),
            "auto.create.topics.enable": "true",
            "num.partitions": str(self.settings.num_partitions),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "5",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "24",
        }

    def prepare(self) -> None:
        """Write the configs; format the storage on first start only (``meta.properties`` absent)."""
        self.config_file.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        (self.paths.data / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        if (self.log_dir / "meta.properties").exists():
            return
        log_file = self.paths.logs / "format.log"
        cmd = [
            *self._java_prefix(),
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={new_cluster_id()}",  # one argument: an id may start with "-" (base64url), argparse-style
            "-c",
            str(self.config_file),
        ]
        with log_file.open("w") as out:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=120, check=False)
        if proc.returncode != 0:
            raise KafkaStorageError(f"formatting Kafka storage failed; see {log_file}")
        logging.getLogger(__name__).info("formatted Kafka storage in %s", self.log_dir)

    def _java_prefix(self) -> list[str]:
        cp = ":".join(str(p) for p in self._classpath())
        return [
            self.java,
            "-Xms128m",
            f"-Xmx{self.settings.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.paths.data / 'log4j2.properties'}",
            f"-Djava.io.tmpdir={self.paths.data}",
            "-cp",
            cp,
        ]

    def command(self) -> list[str]:
        return [*self._java_prefix(), "kafka.Kafka", str(self.config_file)]

    def cluster_id(self) -> str | None:
        """The id this node's storage was formatted with (None before the first ``prepare``)."""
        try:
            lines = (self.log_dir / "meta.properties").read_text().splitlines()
        except OSError:
            return None
        props = dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
        return props.get("cluster.id")

    def is_ready(self) -> bool:
        """A DescribeCluster call answers with this node's cluster id and one broker."""
        expected = self.cluster_id()
        if expected is None or not _accepts(self.port):
            return False
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.url, request_timeout_ms=5000)
        except (KafkaError, OSError):  # NoBrokersAvailable and friends: not ready yet
            return False
        try:
            info = admin.describe_cluster()
            return bool(info.get("cluster_id") == expected and info.get("brokers"))
        except (KafkaError, OSError):
            return False
        finally:
            admin.close()
