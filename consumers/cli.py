"""``inferwatch consume index|replay``: the Kafka pipeline's consumers."""

from __future__ import annotations

import argparse
import logging

from inferwatch.cli_flags import Flag, add_settings_arguments
from inferwatch.consumers.settings import IndexSettings, ReplaySettings
from inferwatch.settings import from_cli
from inferwatch.sinks import options_help
from inferwatch.sinks.kafka_options import SECURITY_OPTIONS

HELP = "index Kafka topics into search engines (a consumer group), or replay a topic's history"
DESCRIPTION = f"""\
The production topology: model pods run the logger sidecar with --sink kafka://... only; behind Kafka, consumer
groups do the rest. 'index' is one member of such a group: it writes every record into the sinks
(Elasticsearch, OpenSearch, SQLite) as the same documents the logger writes, and commits a batch's offsets only
once every sink has it. Run as many members as the topic has partitions; a member that dies is replaced by the
group, nothing is lost or written twice (documents are keyed by request id).

Formats are recognised per message (--format auto): the logger's own records (kafka:// sink), Seldon Core v1's
executor Kafka logging (request and response halves, paired; a half alone is written partial after
--pairing-ttl), and Seldon Core v2's dataflow topics (<prefix>.<namespace>.model|pipeline.<name>.inputs|outputs,
Open Inference Protocol protobuf or JSON; <prefix>.<namespace>.errors.errors as upstream errors). A message that
cannot be decoded goes to --dlq-topic with its reason and is committed past: never lost, never blocking.

  inferwatch consume index --bootstrap 127.0.0.1:9092 --topic inferwatch.records.default.iris \\
      --group indexers --sink elasticsearch://127.0.0.1:9200 --dlq-topic inferwatch.dead-letters
  inferwatch consume index --bootstrap 127.0.0.1:9092 --pattern 'seldon\\.prod\\..*' --format seldon-v2 \\
      --sink opensearch://127.0.0.1:9200
  inferwatch consume replay --bootstrap 127.0.0.1:9092 --topic inferwatch.records.default.iris \\
      --from-time 2026-12-01T00:00:00Z --sink elasticsearch://127.0.0.1:9200?index=backfill-{{deployment}}

'index' serves /metrics (inferwatch_consumer_lag{{topic,partition,group}}, consumed, written, dead-lettered,
write retries, commit latency, rebalances), /health/live and /health/ready on --metrics-port. 'replay' joins no
group and commits nothing; it reads to the end offsets seen at its start (or --until) with a progress bar.

Sink options:
{options_help()}"""

SECURITY = SECURITY_OPTIONS
FLAGS = {"sink": Flag(metavar="URI"), "bootstrap": Flag(metavar="HOST:PORT[,...]")}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="consume_command", metavar="ACTION", required=True)
    index = sub.add_parser(
        "index",
        help="a consumer-group member writing records into sinks",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_settings_arguments(index, IndexSettings, FLAGS, skip=SECURITY)
    add_settings_arguments(index.add_argument_group("Kafka TLS/SASL"), IndexSettings, only=SECURITY)
    replay = sub.add_parser(
        "replay",
        help="a topic's history into a sink (no group, no commits), with a progress bar",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_settings_arguments(replay, ReplaySettings, FLAGS, skip=SECURITY)
    add_settings_arguments(replay.add_argument_group("Kafka TLS/SASL"), ReplaySettings, only=SECURITY)
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.consume_command == "replay":
        return _replay(args)
    return _index(args)


def _index(args: argparse.Namespace) -> int:
    from inferwatch.consumers.service import IndexService
    from inferwatch.serve import run as serve
    from inferwatch.web import create_admin_app

    settings = from_cli(IndexSettings, args)
    service = IndexService(settings).start()
    log = logging.getLogger("inferwatch.consumers")
    log.info(
        "indexing %s (group %s) into %s; metrics and health on %s:%d",
        settings.topic or f"/{settings.pattern}/",
        settings.group,
        ", ".join(settings.sink),
        settings.host,
        settings.metrics_port,
    )
    try:
        if settings.metrics_port:
            serve(
                create_admin_app("inferwatch consume index", service.registry, service.health),
                settings.host,
                settings.metrics_port,
            )
        else:
            service.thread.wait()
    finally:
        service.stop()
    return 0 if service.thread.error is None else 1


def _replay(args: argparse.Namespace) -> int:
    from inferwatch.consumers.replay import replay

    settings = from_cli(ReplaySettings, args)
    report = replay(settings, progress=not args.no_progress)
    logging.getLogger("inferwatch.consumers").info(
        "replayed %d of %d messages in %.1fs (%d dead letters)",
        report.messages,
        report.planned,
        report.seconds,
        report.dead_letters,
    )
    return 0
