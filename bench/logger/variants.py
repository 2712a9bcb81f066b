"""The paths a request can take to the model, each started as its own process in front of the upstream.

``direct``: straight to the model server. ``nginx``: through nginx. ``logger-off``: through the logger with
``--sample-rate 0`` (proxies, logs nothing: the proxy cost alone). ``logger-sqlite``: the logger with its
embedded default sink. ``logger-kafka-es``: the logger with the Kafka and Elasticsearch sinks on the dev
stack's real servers; ``logger-kafka-es-confluent``: the same with the Kafka sink on confluent-kafka
(``client=confluent``, librdkafka) instead of kafka-python.
"""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench.logger import nginx
from bench.logger.procs import Proc, Processes, free_port

VARIANTS = ("direct", "nginx", "logger-off", "logger-sqlite", "logger-kafka-es", "logger-kafka-es-confluent")
KAFKA_CLIENTS = {"logger-kafka-es": "kafka-python", "logger-kafka-es-confluent": "confluent"}
"""Variants with both network sinks on (they need the dev stack) → the Kafka sink's ``client=``."""
LOGGER_VARIANTS = tuple(v for v in VARIANTS if v.startswith("logger-"))
BASELINE, REFERENCE = "direct", "nginx"


@dataclass
class Target:
    """A variant ready to be loaded: the URL to hit and the process in the path (None for ``direct``)."""

    variant: str
    url: str
    proxy: Proc | None = None
    metrics_port: int | None = None
    sinks: list[str] = field(default_factory=list)

    @property
    def is_logger(self) -> bool:
        return self.metrics_port is not None


@dataclass
class DeliveryCounts:
    """The logger's delivery counters (cumulative since it started)."""

    received: float = 0.0
    written: dict[str, float] = field(default_factory=dict)
    dropped: float = 0.0
    queued: float = 0.0

    @property
    def logged(self) -> float:
        """Records every sink has stored (the slowest sink decides)."""
        return min(self.written.values()) if self.written else 0.0


def delivery_counts(metrics_port: int) -> DeliveryCounts:
    """Scrape the logger's ``/metrics`` on 127.0.0.1."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    counts = DeliveryCounts()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "inferwatch_records_received_total":
                counts.received += s.value
            elif s.name == "inferwatch_sink_records_written_total":
                counts.written[s.labels["sink"]] = counts.written.get(s.labels["sink"], 0.0) + s.value
            elif s.name == "inferwatch_records_dropped_total":
                counts.dropped += s.value
            elif s.name in ("inferwatch_queue_depth", "inferwatch_spool_records"):
                counts.queued += s.value
    return counts


def logger_sinks(variant: str, home: Path, kafka: str | None, elasticsearch: str | None) -> list[str]:
    """The ``--sink`` URIs of a logger variant."""
    if variant in KAFKA_CLIENTS:
        if kafka is None or elasticsearch is None:
            raise ValueError(f"{variant} needs the Kafka and Elasticsearch addresses")
        kafka_uri = f"kafka://{kafka}?topic=bench.logger.records&client={KAFKA_CLIENTS[variant]}"
        return [kafka_uri, f"elasticsearch://{elasticsearch}"]
    return [f"sqlite:///{home / 'bench.db'}"]


def start_targets(
    procs: Processes,
    variants: list[str],
    upstream_port: int,
    workdir: Path,
    sinks_for: Callable[[str, Path], list[str]],
) -> list[Target]:
    """Start nginx and one logger per logger variant in front of ``127.0.0.1:upstream_port``."""
    upstream = f"http://127.0.0.1:{upstream_port}"
    targets = []
    for variant in variants:
        if variant == "direct":
            targets.append(Target(variant, upstream))
        elif variant == "nginx":
            port, directory = free_port(), workdir / f"nginx-{upstream_port}"
            conf = nginx.write_config(directory, port, upstream_port)
            proc = procs.start(variant, nginx.command(directory, conf), port)
            targets.append(Target(variant, f"http://127.0.0.1:{port}", proc))
        else:
            port, metrics_port = free_port(), free_port()
            home = workdir / f"home-{variant}-{upstream_port}"
            sinks = sinks_for(variant, home)
            cmd = [sys.executable, "-m", "inferwatch.cli", "--log-level", "WARNING", "logger", "--upstream", upstream]
            cmd += ["--host", "127.0.0.1", "--port", str(port), "--metrics-port", str(metrics_port)]
            cmd += [arg for uri in sinks for arg in ("--sink", uri)]
            if variant == "logger-off":
                cmd += ["--sample-rate", "0"]
            proc = procs.start(variant, cmd, port, env={"INFERWATCH_HOME": str(home)})
            targets.append(Target(variant, f"http://127.0.0.1:{port}", proc, metrics_port, sinks))
    return targets
