"""``python -m bench.logger``: the logger's added latency, throughput and CPU against nginx, in one run.

For each upstream model server it starts nginx and one logger per logger variant in front of it, then runs
wrk against every variant at every concurrency, repetition after repetition, the order of the variants
rotated each repetition (so slow changes in the machine's load hit every variant alike). It prints the
medians, the ratios against nginx and the targets (PASS/MISS), and writes every figure to a JSON file.
A missed target is a measurement, never a failing exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from bench.logger import report, wrk
from bench.logger.measure import Measurement, measure
from bench.logger.procs import Processes, free_port
from bench.logger.variants import KAFKA_CLIENTS, LOGGER_VARIANTS, VARIANTS, Target, logger_sinks, start_targets

log = logging.getLogger("bench.logger")

PATH = "/api/v1.0/predictions"
UPSTREAMS = ("minimal", "iris")

DESCRIPTION = """\
Measures what the inferwatch logger adds to a prediction, next to nginx as a reverse proxy, on 127.0.0.1.

Upstreams (model servers, one uvicorn worker each):
  minimal  a raw ASGI app answering a fixed Seldon v1 response (proxy overhead dominates)
  iris     the example iris server (inferwatch.demo.model_server), a real scikit-learn prediction

Variants (the path a request takes):
  direct           client -> model
  nginx            client -> nginx (Debian package, 1 worker, keepalive upstream, access log off) -> model
  logger-off       client -> logger --sample-rate 0 -> model      (proxy only: nothing is logged)
  logger-sqlite    client -> logger --sink sqlite:///... -> model  (the embedded default sink)
  logger-kafka-es  client -> logger --sink kafka://... --sink elasticsearch://... -> model
                   (real Kafka and Elasticsearch from the dev stack, started and stopped by this run)
  logger-kafka-es-confluent  the same, the Kafka sink on confluent-kafka (client=confluent) instead of kafka-python

Load: wrk (Debian package), a closed loop of C keep-alive connections POSTing a one-row Seldon v1
request to /api/v1.0/predictions for --duration seconds. Latency percentiles come from wrk's histogram.
Logger CPU = utime+stime of the logger process (/proc/PID/stat, all threads) over the run plus the time
its sinks take to store what it accepted, divided by the requests; 'logged/cpu-s' = records stored in
every sink per CPU-second of the logger. Added latency = variant minus direct, paired per repetition.
Figures are medians over the repetitions. wrk and nginx are installed with apt-get when missing.

Targets: logger-added p50 <= 2x nginx-added p50; added p99 at c=32 <= 1.5x nginx's; sinks on vs off
moves p99 by <= 10%; >= 5,000 logged requests/s per logger core with both sinks on.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.logger", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--duration", type=int, default=5, help="seconds of load per measurement (default 5)")
    p.add_argument("--repetitions", type=int, default=3, help="interleaved repetitions per measurement (default 3)")
    p.add_argument("--concurrency", default="1,32", help="comma-separated wrk connection counts (default 1,32)")
    p.add_argument(
        "--upstreams", default=",".join(UPSTREAMS), help=f"comma-separated upstreams (default {','.join(UPSTREAMS)})"
    )
    p.add_argument(
        "--variants",
        default=None,
        help=f"comma-separated variants (default all: {','.join(VARIANTS)}; --quick leaves out logger-kafka-es*)",
    )
    p.add_argument("--warmup", type=int, default=2, help="seconds of unrecorded load per target first (default 2)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: leaves the cores to the servers)")
    p.add_argument("--rows", type=int, default=1, help="instances per request (default 1)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run of about a minute: 2 s per measurement, 1 repetition, 1 s warm-up, "
        "no Kafka/Elasticsearch (unless --variants names logger-kafka-es)",
    )
    p.add_argument("--kafka-port", type=int, default=41092, help="dev-stack Kafka port (default 41092)")
    p.add_argument("--es-port", type=int, default=41200, help="dev-stack Elasticsearch port (default 41200)")
    p.add_argument(
        "--output", type=Path, default=None, help="JSON results file (default <workdir>/../bench-logger-<time>.json)"
    )
    p.add_argument("--workdir", type=Path, default=None, help="where configs, logs and state go (default a temp dir)")
    p.add_argument("--keep-workdir", action="store_true", help="keep the work dir (logs) after the run")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.repetitions, args.warmup = 2, 1, 1
    if args.variants is None:
        args.variants = ",".join(v for v in VARIANTS if not (args.quick and v in KAFKA_CLIENTS))
    return args


def _split(text: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in items if allowed is not None and x not in allowed]
    if bad:
        raise SystemExit(f"unknown value(s) {', '.join(bad)}; choose from {', '.join(allowed or ())}")
    return items


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def request_body(rows: int) -> str:
    row = "[5.1, 3.5, 1.4, 0.2]"
    return '{"data": {"ndarray": [' + ", ".join([row] * rows) + "]}}"


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGINT raise KeyboardInterrupt (also when SIGINT was inherited as ignored, as in a
    background job), so the ``finally`` blocks stop every process."""

    def _raise(_sig: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, _raise) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def sinks_on_unavailable(client: str = "kafka-python") -> str | None:
    """Why a Kafka+Elasticsearch variant (Kafka sink on ``client``) cannot run, or None if it can."""
    try:
        from inferwatch.sinks import SINKS, open_sink  # noqa: F401
    except ImportError as e:
        return f"inferwatch.sinks cannot be imported: {e}"
    missing = [s for s in ("kafka", "elasticsearch") if s not in SINKS]
    if missing:
        return f"no {' / '.join(missing)} sink in inferwatch.sinks.SINKS yet"
    import importlib

    for scheme in ("kafka", "elasticsearch"):
        module = SINKS[scheme].partition(":")[0]
        try:
            importlib.import_module(module)
        except ImportError as e:
            return f"the {scheme} sink cannot be imported ({e}); pip install 'inferwatch[{scheme}]'"
    from inferwatch.errors import ConfigError
    from inferwatch.sinks.kafka import load_producer

    try:
        load_producer(client)
    except ConfigError as e:
        return str(e)
    return None


@contextlib.contextmanager
def dev_stack(workdir: Path, kafka_port: int, es_port: int) -> Iterator[tuple[str, str]]:
    """Real Kafka and Elasticsearch on 127.0.0.1 under ``workdir``, stopped on exit."""
    from devstack.stack import Stack
    from inferwatch.settings import CommonSettings

    stack = Stack(
        common=CommonSettings(home=workdir / "stack-home"), ports={"kafka": kafka_port, "elasticsearch": es_port}
    )
    try:
        t0 = time.monotonic()
        progress(f"starting Kafka (:{kafka_port}) and Elasticsearch (:{es_port}) from the dev stack ...")
        statuses = stack.up(["kafka", "elasticsearch"])
        progress(f"dev stack ready in {time.monotonic() - t0:.0f}s")
        urls = {s.name: s.url.removeprefix("http://") for s in statuses}
        yield urls["kafka"], urls["elasticsearch"]
    finally:
        progress("stopping the dev stack ...")
        stack.down(["kafka", "elasticsearch"])


def run_upstream(
    kind: str, args: argparse.Namespace, variants: list[str], workdir: Path, stack: tuple[str, str] | None
) -> list[Measurement]:
    """All measurements against one upstream: start it and its targets, warm up, interleave, stop."""
    concurrencies = [int(c) for c in _split(args.concurrency)]
    script = wrk.write_script(workdir, request_body(args.rows))
    procs = Processes(workdir)
    out: list[Measurement] = []
    try:
        up_port = free_port()
        upstream = procs.start(
            f"upstream-{kind}", [sys.executable, "-m", "bench.logger.upstream", kind, "--port", str(up_port)], up_port
        )

        def sinks_for(variant: str, home: Path) -> list[str]:
            return logger_sinks(variant, home, *(stack or (None, None)))

        targets: list[Target] = start_targets(procs, variants, up_port, workdir, sinks_for)
        for t in targets:
            progress(f"[{kind}] warm-up {t.variant} ({args.warmup:g}s at c={max(concurrencies)})")
            wrk.run(t.url + PATH, script, max(concurrencies), args.warmup, args.threads)
        steps = args.repetitions * len(concurrencies) * len(targets)
        step = 0
        for rep in range(args.repetitions):
            for c in concurrencies:
                k = (rep + c) % len(targets)
                for t in targets[k:] + targets[:k]:
                    step += 1
                    m = measure(t, upstream, kind, PATH, script, c, args.duration, rep, args.threads)
                    out.append(m)
                    cpu = f" cpu {m.cpu_us_per_request:.0f} us/req" if m.cpu_us_per_request is not None else ""
                    logged = f" logged {m.logged}/{m.requests}" if m.logged is not None else ""
                    progress(
                        f"[{kind} {step}/{steps}] rep {rep + 1} c={c} {t.variant:<25} {m.rps:8,.0f} req/s "
                        f"p50 {m.p50_ms:.3f} ms p99 {m.p99_ms:.3f} ms{cpu}{logged}"
                        + (f" ERRORS {m.errors}" if m.errors else "")
                    )
    finally:
        procs.stop_all()
    return out


def machine() -> dict[str, Any]:
    import os

    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "loadavg_1_5_15": [round(x, 2) for x in load], "python": platform.python_version()}


def run_info(args: argparse.Namespace, start_load: dict[str, Any], t0: float) -> dict[str, Any]:
    """What every benchmark's JSON result starts with: its settings, the code version, the machine's load
    before (``start_load``, from ``machine()``) and after, and the seconds since ``t0`` (``time.monotonic``)."""
    return {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "code": code_version(),
        "machine_before": start_load,
        "machine_after": machine(),
        "seconds": round(time.monotonic() - t0, 1),
    }


def code_version() -> str | None:
    """The commit the code under test is at (``+dirty`` with local changes), if this is a git work tree."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain"], capture_output=True, text=True, timeout=10
        )
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    variants = _split(args.variants, VARIANTS)
    upstreams = _split(args.upstreams, UPSTREAMS)
    from devstack.stack import ensure_commands

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="inferwatch-bench-logger-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ensure_commands({"wrk": "wrk", "nginx": "nginx"}, workdir / "apt.log")
    skipped: dict[str, str] = {}
    for variant in [v for v in variants if v in KAFKA_CLIENTS]:
        if why := sinks_on_unavailable(KAFKA_CLIENTS[variant]):
            progress(f"SKIP {variant}: {why}")
            skipped[variant] = why
            variants.remove(variant)
    start_load = machine()
    t0 = time.monotonic()
    measurements: list[Measurement] = []
    try:
        with sigterm_as_interrupt(), contextlib.ExitStack() as es:
            stack = None
            if any(v in KAFKA_CLIENTS for v in variants):
                stack = es.enter_context(dev_stack(workdir, args.kafka_port, args.es_port))
            for kind in upstreams:
                measurements += run_upstream(kind, args, variants, workdir, stack)
    except KeyboardInterrupt:
        progress("interrupted: every process this run started has been stopped")
        return 130
    finally:
        if not args.keep_workdir and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    rows = report.aggregate(measurements)
    verdicts = report.verdicts(rows)
    print(report.table(rows))
    print()
    print("Targets (logger vs nginx; PASS/MISS are measurements, not errors):")
    print(report.verdict_table(verdicts))
    for variant, why in skipped.items():
        print(f"SKIPPED {variant}: {why}")
    output = args.output or workdir.parent / f"bench-logger-{time.strftime('%Y%m%d-%H%M%S')}.json"
    result = {
        **run_info(args, start_load, t0),
        "skipped": skipped,
        "rows": [r.to_dict() for r in rows],
        "verdicts": [v.to_dict() for v in verdicts],
        "measurements": [m.to_dict() for m in measurements],
    }
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults: {output}")
    return 0


__all__ = ["LOGGER_VARIANTS", "main"]
