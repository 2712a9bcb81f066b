"""``python -m bench.consumers``: the Kafka indexer against the Elasticsearch client's bulk helpers, and what the
Elasticsearch sink costs the logger sidecar, on one real Kafka broker and one Elasticsearch node.

1. Writes ``--records`` of the logger's records (one-row Seldon v1 predictions) into a topic through the
   ``kafka://`` sink, then reads the whole topic into a fresh index with each variant (``bench.consumers
   .indexing``): ``indexer`` (``inferwatch consume index``'s ``IndexService``), ``parallel_bulk`` and
   ``streaming_bulk``, repetition after repetition, the order rotated each time. Every variant reads, decodes and
   builds the same documents the same way; only the bulk path differs. Reports docs/s and CPU ms per document
   (medians), the ratios against ``parallel_bulk`` and whether the target is met.
2. Runs the logger sidecar with ``--sink kafka://…`` alone and with ``--sink kafka://… --sink elasticsearch://…``
   in front of the same model server under the same wrk load (``bench.consumers.sidecar``) and reports its CPU
   per request.

A missed target is a measurement, never a failing exit status.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.consumers import report
from bench.consumers.indexing import Setup, run_variant, write_topic
from bench.consumers.report import VARIANTS, Run
from bench.consumers.sidecar import SidecarSetup, measure_sidecar
from bench.kafka_clients.run import records
from bench.logger.measure import Measurement
from bench.logger.run import machine, run_info, sigterm_as_interrupt, sinks_on_unavailable
from bench.soak.run import sinks

DESCRIPTION = """\
The Kafka indexer (inferwatch consume index) against elasticsearch.helpers.parallel_bulk and streaming_bulk, on
one real Kafka broker and one Elasticsearch node of the dev stack (started and stopped by this run unless
--kafka and --elasticsearch name running ones on 127.0.0.1).

Indexing: --records logger records (one-row Seldon v1 predictions, ~1.5 KB) are written into a topic through the
kafka:// sink. Each variant then reads the whole topic into a fresh index, in this process:
  indexer         IndexService: poll a batch -> SearchSink.write (streaming_bulk) -> commit -> next poll
  parallel_bulk   elasticsearch.helpers.parallel_bulk (thread_count 4, chunk_size 500) over the actions
  streaming_bulk  elasticsearch.helpers.streaming_bulk (chunk_size 500) over the same actions
All three read the topic with the same Kafka client and batch size in a fresh consumer group, decode with the
consumers' MessageDecoder and build the SearchSink's own bulk actions (same documents, ids, update ops), sent
through the sink's client: only the bulk path differs. docs/s = documents / seconds from before the first poll
until the node acknowledged the last; cpu ms/doc = time.process_time (every thread of this process) over the
same window; es cpu ms/doc = the node's CPU (/proc) when this run started it. Medians over --repetitions,
variants interleaved, the order rotated each repetition. Every run's index is counted afterwards ('all in').

Target (from the issue): indexer >= 1.0x parallel_bulk's docs/s at <= its CPU per document.

Sidecar: bench.logger's upstream (the demo iris server), loggers and wrk load: the logger with --sink kafka://
alone vs kafka:// + elasticsearch://; CPU of the logger process per request, its sinks' work included.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.consumers", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--records", type=int, default=50_000, help="records in the topic (default 50000)")
    p.add_argument("--batch", type=int, default=500, help="records per poll, for every variant (default 500)")
    p.add_argument("--repetitions", type=int, default=3, help="interleaved runs per variant (default 3)")
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated (default {','.join(VARIANTS)})")
    p.add_argument(
        "--sink-options",
        default="",
        help="extra elasticsearch:// options of every variant's sink, e.g. chunk_size=2000 (the sink's own bulk "
        "size; the baselines keep their helpers' defaults)",
    )
    p.add_argument("--warmup-records", type=int, default=1000, help="untimed run per variant first (default 1000)")
    p.add_argument("--no-sidecar", action="store_true", help="leave out the sidecar CPU measurement")
    p.add_argument("--upstream", choices=("iris", "minimal"), default="iris", help="sidecar's model server")
    p.add_argument("--concurrency", type=int, default=32, help="sidecar: wrk connections (default 32)")
    p.add_argument("--duration", type=float, default=5.0, help="sidecar: seconds of load per run (default 5)")
    p.add_argument("--sidecar-repetitions", type=int, default=3, help="sidecar: runs per sink set (default 3)")
    p.add_argument("--warmup", type=float, default=2.0, help="sidecar: seconds of unrecorded load first (default 2)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (~1 min plus the dev stack's start): 2,000 records, 1 repetition, 500-record warm-up, "
        "sidecar 2 s x 1 with 1 s warm-up",
    )
    p.add_argument("--kafka", help="HOST:PORT of a running broker (with --elasticsearch: start no dev stack)")
    p.add_argument("--elasticsearch", help="HOST:PORT of a running node (with --kafka: start no dev stack)")
    p.add_argument("--kafka-port", type=int, default=42092, help="port of the started broker (default 42092)")
    p.add_argument("--es-port", type=int, default=42200, help="port of the started node (default 42200)")
    p.add_argument("--output", type=Path, help="JSON results (default <workdir>/../bench-consumers-<time>.json)")
    p.add_argument("--workdir", type=Path, help="where the dev stack, logs and state go (default a temp dir)")
    p.add_argument("--keep-workdir", action="store_true", help="keep the work dir (logs) after the run")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)
    if args.quick:
        args.records, args.repetitions, args.warmup_records = min(args.records, 2_000), 1, min(args.warmup_records, 500)
        args.duration, args.sidecar_repetitions, args.warmup = min(args.duration, 2.0), 1, min(args.warmup, 1.0)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if bad := [v for v in args.variants if v not in VARIANTS]:
        p.error(f"unknown variant(s) {', '.join(bad)}; choose from {', '.join(VARIANTS)}")
    if min(args.records, args.batch, args.repetitions, args.sidecar_repetitions) < 1 or args.warmup_records < 0:
        p.error("--records, --batch and the repetitions must be at least 1, --warmup-records at least 0")
    for flag in ("kafka", "elasticsearch"):
        host = getattr(args, flag)
        if host and host.rpartition(":")[0] not in ("127.0.0.1", "localhost"):
            p.error(f"--{flag} must be on 127.0.0.1 or localhost")
    return args


def progress(msg: str) -> None:
    tqdm.write(msg, file=sys.stderr)


def measure_indexing(args: argparse.Namespace, setup: Setup) -> list[Run]:
    """Fill the topic, warm every variant up (untimed, on the topic's first records), then the interleaved runs."""
    with tqdm(total=args.records, desc="records into the topic", unit="rec", file=sys.stderr) as bar:
        write_topic(setup.bootstrap, setup.topic, records(args.records), args.batch, bar.update)
    if args.warmup_records:
        warm = replace(setup, records=min(args.warmup_records, args.records))
        for variant in args.variants:
            progress(f"warm-up {variant} ({warm.records} records, untimed)")
            run_variant(variant, warm, -1)
    plan = [(rep, v) for rep in range(args.repetitions) for v in _rotated(args.variants, rep)]
    runs: list[Run] = []
    for rep, variant in tqdm(plan, desc="indexing runs", unit="run", file=sys.stderr):
        r = run_variant(variant, setup, rep)
        runs.append(r)
        progress(
            f"rep {rep + 1} {variant:<15} {r.docs_per_s:8,.0f} docs/s  {r.cpu_ms_per_doc:.3f} cpu ms/doc  "
            f"{r.docs}/{setup.records} acknowledged, {r.indexed} in the index"
            + (f", {r.failed} FAILED" if r.failed else "")
        )
    return runs


def _rotated(items: list[str], k: int) -> list[str]:
    k %= len(items)
    return items[k:] + items[:k]


def benchmark(args: argparse.Namespace, workdir: Path) -> tuple[list[Run], list[Measurement]]:
    run = uuid.uuid4().hex[:8]
    with sinks(args, workdir) as (kafka, es, pids):
        setup = Setup(kafka, es, f"bench.consumers.{run}", args.records, args.batch, node_pid=pids.get("elasticsearch"))
        setup = replace(setup, sink_options=args.sink_options)
        runs = measure_indexing(args, setup)
        measurements: list[Measurement] = []
        if not args.no_sidecar:
            sidecar = SidecarSetup(
                kafka,
                es,
                topic=f"bench.consumers.sidecar.{run}",
                index=f"bench-consumers-sidecar-{run}",
                upstream=args.upstream,
                concurrency=args.concurrency,
                duration=args.duration,
                warmup=args.warmup,
                repetitions=args.sidecar_repetitions,
            )
            measurements = measure_sidecar(sidecar, workdir, progress)
    return runs, measurements


def print_results(args: argparse.Namespace, rows: list[report.Row], verdicts: list[Any], side: list[Any]) -> None:
    print(f"Indexing {args.records:,} records (one document each), medians of {args.repetitions} run(s):")
    print(report.table(rows))
    print()
    print("Target (PASS/MISS are measurements, not errors):")
    print(report.verdict_table(verdicts))
    print(report.target_line(verdicts, rows))
    if side:
        print()
        load = f"{args.upstream} upstream, c={args.concurrency}, {args.duration:g}s runs"
        print(f"Logger sidecar CPU per request ({load}), medians of {args.sidecar_repetitions} run(s):")
        print(report.sidecar_table(side))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if why := sinks_on_unavailable():
        progress(f"cannot run: {why}")
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="inferwatch-bench-consumers-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if not args.no_sidecar:
        from devstack.stack import ensure_commands

        ensure_commands({"wrk": "wrk"}, workdir / "apt.log")
    start_load, t0 = machine(), time.monotonic()
    try:
        with sigterm_as_interrupt():
            runs, measurements = benchmark(args, workdir)
    except KeyboardInterrupt:
        progress("interrupted: every process this run started has been stopped")
        return 130
    finally:
        if not args.keep_workdir and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    rows = report.aggregate(runs, args.records)
    verdicts = report.verdicts(rows)
    side = report.sidecar_rows(measurements)
    print_results(args, rows, verdicts, side)
    output = args.output or workdir.parent / f"bench-consumers-{time.strftime('%Y%m%d-%H%M%S')}.json"
    result = {
        **run_info(args, start_load, t0),
        "rows": [r.to_dict() for r in rows],
        "verdicts": [v.to_dict() for v in verdicts],
        "target": report.target_line(verdicts, rows),
        "runs": [r.to_dict() for r in runs],
        "sidecar": [r.to_dict() for r in side],
        "sidecar_measurements": [m.to_dict() for m in measurements],
    }
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults: {output}")
    return 0
