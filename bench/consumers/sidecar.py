"""The logger sidecar's CPU per request with ``--sink kafka://…`` alone vs ``kafka://…`` + ``elasticsearch://…``.

``bench.logger``'s machinery throughout: its upstream model server (``bench.logger.upstream``, the project's demo
iris server by default), its loggers (``bench.logger.variants.start_targets``, one per sink set, both in front of
the same upstream), wrk load and ``bench.logger.measure.measure``: the logger process's CPU from before the load
until every record it accepted is stored in every sink, divided by wrk's requests. The variants are interleaved,
the order rotated each repetition.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.consumers.report import KAFKA_ES, SIDECAR_VARIANTS
from bench.logger import wrk
from bench.logger.measure import Measurement, measure
from bench.logger.procs import Processes, free_port
from bench.logger.run import PATH, request_body
from bench.logger.variants import start_targets


@dataclass(frozen=True)
class SidecarSetup:
    kafka: str
    elasticsearch: str
    topic: str
    index: str
    upstream: str = "iris"
    concurrency: int = 32
    duration: float = 5.0
    warmup: float = 2.0
    repetitions: int = 3

    def sinks(self, variant: str, _home: Path) -> list[str]:
        """``--sink`` URIs of a sidecar variant: the Kafka sink always, Elasticsearch for ``logger-kafka-es``."""
        uris = [f"kafka://{self.kafka}?topic={self.topic}"]
        if variant == KAFKA_ES:
            uris.append(f"elasticsearch://{self.elasticsearch}?index={self.index}")
        return uris


def measure_sidecar(setup: SidecarSetup, workdir: Path, progress: Callable[[str], object]) -> list[Measurement]:
    """Start the upstream and one logger per sidecar variant, warm each up, measure interleaved, stop them all."""
    procs = Processes(workdir)
    script = wrk.write_script(workdir, request_body(1))
    out: list[Measurement] = []
    try:
        port = free_port()
        cmd = [sys.executable, "-m", "bench.logger.upstream", setup.upstream, "--port", str(port)]
        upstream = procs.start(f"upstream-{setup.upstream}", cmd, port)
        targets = start_targets(procs, list(SIDECAR_VARIANTS), port, workdir, setup.sinks)
        for t in targets:
            progress(f"[sidecar] warm-up {t.variant} ({setup.warmup:g}s at c={setup.concurrency})")
            wrk.run(t.url + PATH, script, setup.concurrency, setup.warmup, 1)
        for rep in range(setup.repetitions):
            k = rep % len(targets)
            for t in targets[k:] + targets[:k]:
                m = measure(t, upstream, setup.upstream, PATH, script, setup.concurrency, setup.duration, rep, 1)
                out.append(m)
                cpu = m.cpu_us_per_request or 0.0
                progress(
                    f"[sidecar] rep {rep + 1} {t.variant:<16} {m.rps:7,.0f} req/s  logger cpu {cpu:6.1f} us/req  "
                    f"logged {m.logged}/{m.requests}" + (f" ERRORS {m.errors}" if m.errors else "")
                )
    finally:
        procs.stop_all()
    return out
