"""Per-message cost of the Kafka sink's two clients, measured through the sink itself.

Each measurement opens ``kafka://…?client=C&compression=Z``, writes one untimed batch (connection, metadata,
topic creation), then times ``--messages`` records written ``--batch`` at a time with ``KafkaSink.write``
(every record acknowledged by the broker, acks=all, idempotent producer, before ``write`` returns). It reports
wall time and process CPU time (``time.process_time``: every thread of this process, so kafka-python's sender
thread and librdkafka's threads count) per message. Clients and compressions are interleaved, repetition after
repetition; figures are medians. The sink's own encoding (topic, JSON value, headers: the same code for both
clients) is timed apart, so the ratio is given both for the whole write and for the client's share.
The broker is the dev stack's Kafka, started and stopped by this run on ``--kafka-port`` unless
``--bootstrap`` names one already running on 127.0.0.1. No new measurement starts once ``--max-seconds``
have passed since the broker was ready.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from inferwatch.capture import Body, Exchange, RecordBuilder
from inferwatch.records import InferenceRecord
from inferwatch.sinks import open_sink
from inferwatch.sinks.kafka import KafkaSink, KafkaSinkConfig, message_headers, message_value

CLIENTS = ("kafka-python", "confluent")
REQUEST = b'{"data": {"names": ["sl", "sw", "pl", "pw"], "ndarray": [[5.1, 3.5, 1.4, 0.2]]}}'
RESPONSE = b'{"data": {"names": ["t:0", "t:1", "t:2"], "ndarray": [[0.97, 0.03, 0.0]]}, "meta": {}}'


@dataclass(frozen=True)
class Sample:
    """One timed run of ``messages`` records through one client with one compression."""

    client: str
    compression: str
    messages: int
    wall_us: float
    cpu_us: float


def records(n: int) -> list[InferenceRecord]:
    """``n`` one-row Seldon v1 prediction records, as the logger builds them (distinct request ids)."""
    builder, t0 = RecordBuilder(), time.time()
    return [
        builder.build(
            Exchange(
                request_id=f"bench-{i:07d}",
                received_at=t0,
                responded_at=t0 + 0.002,
                request=Body(REQUEST, "application/json", len(REQUEST)),
                response=Body(RESPONSE, "application/json", len(RESPONSE)),
                status_code=200,
                method="POST",
                path="/api/v1.0/predictions",
                namespace="bench",
                deployment="iris",
            )
        )
        for i in range(n)
    ]


def measure(bootstrap: str, client: str, compression: str, recs: list[InferenceRecord], batch: int) -> Sample:
    """Write ``recs`` through a fresh Kafka sink; time everything after the first (untimed) batch."""
    topic = f"bench.kafka-clients.{client}.{compression}"
    sink = open_sink(f"kafka://{bootstrap}?topic={topic}&client={client}&compression={compression}")
    try:
        sink.write(recs[:batch])
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(recs), batch):
            sink.write(recs[i : i + batch])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        sink.close()
    n = len(recs)
    return Sample(client, compression, n, wall / n * 1e6, cpu / n * 1e6)


def encode_cost(recs: list[InferenceRecord]) -> float:
    """CPU µs per record of what the sink computes before handing a message to either client."""
    sink = KafkaSink(KafkaSinkConfig(["127.0.0.1:9"], topic="bench.{namespace}.{deployment}"))
    cpu = time.process_time()
    for r in recs:
        sink.topic_for(r), message_value(r), message_headers(r)
    return (time.process_time() - cpu) / len(recs) * 1e6


@contextlib.contextmanager
def broker(bootstrap: str | None, port: int) -> Iterator[str]:
    """``bootstrap`` if given, else the dev stack's Kafka on ``port`` (stopped on exit)."""
    if bootstrap is not None:
        yield bootstrap
        return
    from devstack.stack import Stack
    from inferwatch.settings import CommonSettings

    home = Path(tempfile.mkdtemp(prefix="inferwatch-bench-kafka-clients-"))
    stack = Stack(common=CommonSettings(home=home), ports={"kafka": port})
    try:
        progress(f"starting Kafka on 127.0.0.1:{port} ...")
        (status,) = stack.up(["kafka"])
        yield status.url.removeprefix("http://")
    finally:
        progress("stopping Kafka ...")
        stack.down(["kafka"])


def summary(samples: list[Sample], encode_us: float) -> str:
    """Median µs per message by client and compression, and kafka-python / confluent ratios (also without the
    sink's shared encoding cost ``encode_us``)."""
    med: dict[tuple[str, str], tuple[float, float]] = {}
    for key in sorted({(s.client, s.compression) for s in samples}):
        mine = [s for s in samples if (s.client, s.compression) == key]
        med[key] = (statistics.median(s.wall_us for s in mine), statistics.median(s.cpu_us for s in mine))
    lines = [f"{'client':<13} {'compression':<11} {'reps':>4} {'wall us/msg':>11} {'cpu us/msg':>10} {'msg/s':>9}"]
    for (client, comp), (wall, cpu) in med.items():
        reps = sum(1 for s in samples if (s.client, s.compression) == (client, comp))
        lines.append(f"{client:<13} {comp:<11} {reps:>4} {wall:>11.1f} {cpu:>10.1f} {1e6 / wall:>9,.0f}")
    for comp in sorted({c for _, c in med}):
        slow, fast = med.get(("kafka-python", comp)), med.get(("confluent", comp))
        if slow and fast:
            lines.append(
                f"ratio kafka-python / confluent, {comp}: wall {slow[0] / fast[0]:.1f}x, cpu {slow[1] / fast[1]:.1f}x;"
                f" client cpu alone {slow[1] - encode_us:.1f} / {fast[1] - encode_us:.1f} us"
                f" = {(slow[1] - encode_us) / max(fast[1] - encode_us, 0.1):.1f}x"
            )
    lines.insert(1, f"(sink encoding, same for both clients: {encode_us:.1f} cpu us/msg, included above)")
    return "\n".join(lines)


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.kafka_clients", description=__doc__)
    p.add_argument("--bootstrap", default=None, help="a running broker on 127.0.0.1 (default: start the dev stack's)")
    p.add_argument("--kafka-port", type=int, default=41192, help="port of the Kafka this run starts (default 41192)")
    p.add_argument("--messages", type=int, default=20_000, help="timed messages per measurement (default 20000)")
    p.add_argument("--batch", type=int, default=500, help="records per KafkaSink.write (default 500)")
    p.add_argument("--compressions", default="gzip,none", help="comma-separated (default gzip,none)")
    p.add_argument("--repetitions", type=int, default=3, help="interleaved repetitions (default 3)")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=60.0,
        help="seconds of measuring after which no new measurement starts (default 60)",
    )
    args = p.parse_args(argv)
    if args.bootstrap and args.bootstrap.rpartition(":")[0] not in ("127.0.0.1", "localhost"):
        p.error("--bootstrap must be on 127.0.0.1 or localhost")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    recs = records(args.messages)
    progress(f"{args.messages} records of {len(recs[0].to_json())} bytes, batches of {args.batch}")
    combos = [(c, z) for z in args.compressions.split(",") for c in CLIENTS]
    samples: list[Sample] = []
    encode_us = statistics.median(encode_cost(recs) for _ in range(3))
    with broker(args.bootstrap, args.kafka_port) as bootstrap:
        deadline = time.monotonic() + args.max_seconds
        for rep in range(args.repetitions):
            for client, comp in combos[rep % len(combos) :] + combos[: rep % len(combos)]:
                if time.monotonic() > deadline:
                    progress(f"--max-seconds {args.max_seconds:g} reached: stopping early")
                    break
                s = measure(bootstrap, client, comp, recs, args.batch)
                samples.append(s)
                progress(f"rep {rep + 1} {client:<12} {comp:<5} {s.wall_us:7.1f} us/msg wall {s.cpu_us:7.1f} cpu")
    print(summary(samples, encode_us))
    return 0


__all__ = ["Sample", "main", "measure", "records", "summary"]
