"""Real ``inferwatch consume index`` processes for fault-tolerance tests, and reading their /metrics."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.logger.processes import ServiceProcess
from tests.servers import free_port

CLI = [sys.executable, "-m", "inferwatch.cli"]


class IndexerProcess(ServiceProcess):
    """One ``consume index`` group member on its own metrics port, logging at INFO to ``tmp/indexer-<port>.log``;
    returned once ``/health/live`` answers."""

    def __init__(self, tmp: Path, bootstrap: str, topic: str, group: str, sinks: Sequence[str], *extra: str) -> None:
        self.mport = free_port()
        argv = [*CLI, "consume", "index", "--bootstrap", bootstrap, "--topic", topic, "--group", group]
        argv += ["--host", "127.0.0.1", "--metrics-port", str(self.mport), "--log-level", "INFO"]
        for sink in sinks:
            argv += ["--sink", sink]
        super().__init__(
            [*argv, *extra],
            tmp / f"indexer-{self.mport}.log",
            {**os.environ, "INFERWATCH_HOME": str(tmp)},
            f"{self.url}/health/live",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.mport}"

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=10)

    def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        """Every sample called ``name`` on ``/metrics`` (a counter's ``_total`` included), with its labels."""
        text = self.get("/metrics").text
        return [
            (dict(s.labels), s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == name
        ]

    def metric(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples whose labels include ``labels`` (0 when there are none)."""
        return sum(v for have, v in self.samples(name) if labels.items() <= have.items())

    def lag(self) -> dict[int, float]:
        """``inferwatch_consumer_lag`` per partition this member reports."""
        return {int(labels["partition"]): v for labels, v in self.samples("inferwatch_consumer_lag")}
