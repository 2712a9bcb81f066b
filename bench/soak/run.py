"""``python -m bench.soak``: minutes of steady load through the logger into Kafka and Elasticsearch, then proof.

1. Starts real Kafka and Elasticsearch from the dev stack (or uses the ones given), a minimal model server and
   one logger in front of it with both sinks (a topic and an index of this run's own).
2. Finds the logger's capacity with a short closed loop, then sends a fixed rate (``--load`` of that capacity)
   for ``--duration`` seconds, every request with its own ``x-request-id``.
3. Waits until the logger says every record is stored, then reads both sinks back: every acknowledged id must be
   in Elasticsearch exactly once (one document per request id) and in Kafka at least once (the producer is
   idempotent, but a batch retried after a timeout can repeat a message; consumers de-duplicate by key).
4. Samples the resident memory of every process it started; growth is measured from the end of the warm-up.

Targets: nothing acknowledged is lost in either sink; the logger's RSS grows by less than 50 MB. A missed target
is a measurement printed as MISS, never a failing exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.logger.measure import wait_drained
from bench.logger.procs import Processes, free_port
from bench.logger.run import dev_stack, machine, run_info, sigterm_as_interrupt, sinks_on_unavailable
from bench.soak import load, verify
from bench.soak.rss import RssSampler

log = logging.getLogger("bench.soak")

RSS_TARGET_MB = 50.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--duration", type=float, default=600.0, help="seconds of steady load (default %(default)s)")
    p.add_argument("--load", type=float, default=0.8, help="fraction of the measured capacity (default %(default)s)")
    p.add_argument("--rate", type=float, help="requests per second; skips the capacity measurement")
    p.add_argument("--capacity-seconds", type=float, default=15.0, help="closed-loop probe (default %(default)s)")
    p.add_argument("--concurrency", type=int, default=16, help="clients of the probe (default %(default)s)")
    p.add_argument("--warmup", type=float, default=30.0, help="seconds before the RSS baseline (default %(default)s)")
    p.add_argument("--client", choices=("kafka-python", "confluent"), default="kafka-python", help="Kafka client")
    p.add_argument("--kafka", help="HOST:PORT of a running broker (default: start one from the dev stack)")
    p.add_argument("--elasticsearch", help="HOST:PORT of a running node (default: start one from the dev stack)")
    p.add_argument("--kafka-port", type=int, default=29092, help="port of the started broker (default %(default)s)")
    p.add_argument("--es-port", type=int, default=29200, help="port of the started node (default %(default)s)")
    p.add_argument("--drain-timeout", type=float, default=300.0, help="seconds to wait for the sinks to catch up")
    p.add_argument("--workdir", type=Path, help="where processes keep their files (default: a temporary dir)")
    p.add_argument("--output", type=Path, help="JSON results (default: next to the workdir)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    return p.parse_args(argv)


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@contextlib.contextmanager
def sinks(args: argparse.Namespace, workdir: Path) -> Iterator[tuple[str, str, dict[str, int]]]:
    """``(kafka, elasticsearch, pids)``: the given servers, or ones started from the dev stack (with their pids)."""
    if args.kafka and args.elasticsearch:
        yield args.kafka, args.elasticsearch, {}
        return
    with dev_stack(workdir, args.kafka_port, args.es_port) as (kafka, es):
        from devstack.stack import Stack
        from inferwatch.settings import CommonSettings

        stack = Stack(common=CommonSettings(home=workdir / "stack-home"))
        pids = {s.name: s.pid for s in stack.status(["kafka", "elasticsearch"]) if s.pid}
        yield kafka, es, pids


def _ticker(quiet: bool, sampler: RssSampler, logger_name: str) -> Any:
    def tick(elapsed: float, out: load.LoadResult) -> None:
        if quiet or int(elapsed) % 10:
            return
        rss = sampler.samples.get(logger_name, [0])[-1] / 2**20
        errors = sum(out.errors.values())
        progress(
            f"  {elapsed:5.0f}s  sent {out.sent:>9,}  acked {len(out.acked):>9,}  errors {errors}"
            f"  logger RSS {rss:.0f} MB"
        )

    return tick


def soak(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    topic, index = f"soak.{run}", f"soak-{run}"
    procs = Processes(workdir)
    try:
        with sinks(args, workdir) as (kafka, es, stack_pids):
            up_port = free_port()
            upstream = procs.start(
                "upstream", [sys.executable, "-m", "bench.logger.upstream", "minimal", "--port", str(up_port)], up_port
            )
            port, metrics_port = free_port(), free_port()
            cmd = [sys.executable, "-m", "inferwatch.cli", "--log-level", "WARNING", "logger"]
            cmd += ["--upstream", f"http://127.0.0.1:{up_port}", "--host", "127.0.0.1"]
            cmd += ["--port", str(port), "--metrics-port", str(metrics_port)]
            cmd += ["--sink", f"kafka://{kafka}?topic={topic}&client={args.client}"]
            cmd += ["--sink", f"elasticsearch://{es}?index={index}-{{deployment}}"]
            logger = procs.start("logger", cmd, port, env={"INFERWATCH_HOME": str(workdir / "logger-home")})
            base = f"http://127.0.0.1:{port}"
            sampler = RssSampler({"logger": logger.pid, "upstream": upstream.pid, **stack_pids})
            sampler.start()
            rate = args.rate
            capacity = None
            if rate is None:
                progress(f"measuring capacity: {args.concurrency} clients for {args.capacity_seconds:g}s ...")
                probe = asyncio.run(load.closed_loop(base, args.concurrency, args.capacity_seconds, f"{run}-cap"))
                capacity = probe.rate
                rate = max(1.0, capacity * args.load)
                progress(f"capacity {capacity:,.0f} req/s; soaking at {rate:,.0f} req/s for {args.duration:g}s")
            warm = asyncio.run(load.fixed_rate(base, rate, args.warmup, f"{run}-warm")) if args.warmup else None
            sampler.mark()
            tick = _ticker(args.quiet, sampler, "logger")
            steady = asyncio.run(load.fixed_rate(base, rate, args.duration, f"{run}-soak", on_tick=tick))
            progress("load done; waiting for the sinks to catch up ...")
            drained_at = time.monotonic()
            counts = wait_drained(metrics_port, timeout=args.drain_timeout)
            drain_s = time.monotonic() - drained_at
            memory = sampler.stop()
            acked = [*(probe.acked if capacity is not None else []), *(warm.acked if warm else []), *steady.acked]
            progress(f"reading back {len(acked):,} acknowledged ids from Kafka and Elasticsearch ...")
            in_kafka = verify.kafka_ids(kafka, topic, expected=len(acked))
            in_es = verify.search_ids(es, f"{index}-*")
            checks = [
                verify.check("elasticsearch", acked, in_es, "exactly once: one document per request id"),
                verify.check("kafka", acked, in_kafka, "at least once: consumers de-duplicate by key"),
            ]
    finally:
        procs.stop_all()
    return {
        "rate": rate,
        "capacity": capacity,
        "steady": {"seconds": steady.seconds, "sent": steady.sent, "acked": len(steady.acked), "late": steady.late},
        "errors": steady.errors,
        "acked_total": len(acked),
        "drain_seconds": round(drain_s, 1),
        "delivery": {"received": counts.received, "written": counts.written, "dropped": counts.dropped},
        "checks": [c.__dict__ | {"lost": c.lost} for c in checks],
        "rss": memory,
        "lines": [c.line() for c in checks],
    }


def verdicts(result: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """``(target, measured, met)`` for nothing-lost per sink and the logger's RSS growth."""
    out = [
        (f"nothing lost in {c['sink']}", f"{c['missing']:,} of {c['acked']:,} missing", c["missing"] == 0)
        for c in result["checks"]
    ]
    growth = result["rss"].get("logger", {}).get("growth", 0) / 2**20
    out.append((f"logger RSS growth < {RSS_TARGET_MB:g} MB", f"{growth:+.1f} MB", growth < RSS_TARGET_MB))
    return out


def report(result: dict[str, Any]) -> str:
    lines = [
        f"rate {result['rate']:,.0f} req/s"
        + (f" ({result['capacity']:,.0f} req/s capacity)" if result["capacity"] else "")
        + f"; steady phase {result['steady']['seconds']:.0f}s: sent {result['steady']['sent']:,},"
        f" acknowledged {result['steady']['acked']:,}, errors {sum(result['errors'].values())}"
        f", sent late {result['steady']['late']:,}; all phases acknowledged {result['acked_total']:,};"
        f" sinks caught up {result['drain_seconds']:g}s after the load",
        "",
        *result["lines"],
        "",
        "RSS (MB)        baseline      last      peak    growth",
    ]
    for name, m in result["rss"].items():
        lines.append(
            f"{name:<14} {m['baseline'] / 2**20:9.1f} {m['last'] / 2**20:9.1f} {m['peak'] / 2**20:9.1f}"
            f" {m['growth'] / 2**20:+9.1f}"
        )
    lines += ["", "Targets (PASS/MISS are measurements, not errors):"]
    lines += [f"  {'PASS' if met else 'MISS'}  {target}: {measured}" for target, measured, met in verdicts(result)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if why := sinks_on_unavailable(args.client):
        progress(f"cannot run: {why}")
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="inferwatch-bench-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    start_load, t0 = machine(), time.monotonic()
    try:
        with sigterm_as_interrupt():
            result = soak(args, workdir)
    except KeyboardInterrupt:
        progress("interrupted: every process this run started has been stopped")
        return 130
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(report(result))
    output = args.output or workdir.parent / f"bench-soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    payload = {**run_info(args, start_load, t0), **{k: v for k, v in result.items() if k != "lines"}}
    payload["verdicts"] = [{"target": t, "measured": m, "met": ok} for t, m, ok in verdicts(result)]
    output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nresults: {output}")
    return 0
