"""``inferwatch detector fit|serve``: fit an alibi-detect detector from data, or serve one."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from inferwatch.cli_flags import OMIT, Flag, add_settings_arguments
from inferwatch.delivery.publisher import RESULTS_FIELDS, add_results_arguments
from inferwatch.detectors.kinds import KINDS
from inferwatch.detectors.settings import DetectorSettings
from inferwatch.settings import from_cli

HELP = "alibi-detect outlier/drift detectors: fit one from data, or serve one"
DESCRIPTION = f"""\
Fit a detector from reference data, or serve any detector saved by alibi-detect.

  inferwatch detector fit --kind ks --reference ref.csv --out DIR [--option p_val=0.01]
  inferwatch detector serve --detector DIR --port 8080 [--batch-size 100] [--window-seconds 60]
  inferwatch detector consume --detector DIR --bootstrap HOST:PORT --topic TOPIC [--group G]

Kinds: {", ".join(k for k, v in KINDS.items() if not v.needs_tf)}.
With pip install 'inferwatch[detect-tf]': {", ".join(k for k, v in KINDS.items() if v.needs_tf)}
(adversarial-ae: --option label_column=NAME; ae/vae/adversarial-ae save dill files: --trust-artifacts).
iforest and mahalanobis are saved as detector.joblib + inferwatch.json (alibi-detect's own save imports
TensorFlow for them); like classifier's model.joblib/dill files they are served only with --trust-artifacts.

Served on one port: Seldon graph component (/predict, /api/v1.0/predictions, /transform-input,
/transform-output, /health/ping, /health/status, /metadata), V2 (/v2/health/live|ready,
/v2/models/NAME/infer) and CloudEvents (POST /, answered with Ce-Type io.seldon.serving.inference.outlier|drift).
Drift detectors answer {{"data": {{"pending": true, ...}}}} until --batch-size instances or --window-seconds
have passed; the pending window is kept on disk in the detector's own --state-dir (one per detector by
default; a directory holding another detector's state is refused at start), as is an online detector's state
(saved every --checkpoint-every instances and on shutdown; loaded on start). POST /send-feedback (and CloudEvents
of type io.seldon.serving.feedback) take Seldon Feedback messages: truth + response, or a request id looked up in
--feedback-store; they count seldon_metric_true_positive_total (and the false_positive, true_negative,
false_negative series) and inferwatch_feedback_accuracy per model_name and class.
Metrics on --metrics-port /metrics; health on /health/live and /health/ready there.
'consume' reads a Kafka topic of logged requests in a consumer group — the logger's paired records, Seldon Core
v1 executor Kafka logging or Seldon Core v2 '<prefix>.<namespace>.model.<model>.inputs' topics, recognised per
message as 'inferwatch consume index' recognises them (response halves are skipped) — runs each request's
instances through the detector and commits after processing (at-least-once); with --results-sink, results go
through a write-ahead log under --results-spool-dir and a batch is committed only once its results are in it
(a consumer killed at any point loses no result: the log is delivered on the next start); unusable records are counted
(inferwatch_consumer_records_total{{outcome="unusable"}}) and skipped; a record delivered again is counted once
in a drift window (inferwatch_detector_duplicates_total); --window-seconds windows close on time.
Its metrics and health are on --metrics-port: live while the consumer thread runs (an error out of its loop
kills it, logged at CRITICAL), ready while it also polled within the last 60 s.
Every serve and consume flag but --bootstrap/--topic/--group has an environment variable
INFERWATCH_DETECTOR_<FLAG> (shown with each flag); flags win.
"""


SERVE_FLAGS = {"feedback_store": Flag(metavar="URI")}
"""Where ``detector serve``'s flags differ from ``DetectorSettings`` (every field has one)."""
CONSUME_FLAGS = {
    **dict.fromkeys(
        ("port", "protocol", "event_type", "event_source", "reply_url", "reply_timeout", "feedback_store"), OMIT
    ),
    "host": Flag(help="Interface of the metrics/health server."),
    "model_name": Flag(help="Detector name, used in its default --state-dir and in the names of its results."),
    "metrics_port": Flag(help="Port of /metrics and health (the only server 'consume' runs)."),
}
"""``detector consume`` answers no requests: it has no flags for the serving side of ``DetectorSettings``."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``fit`` (flags of its own), ``serve`` and ``consume`` (flags from ``DetectorSettings``)."""
    sub = p.add_subparsers(dest="detector_command", metavar="ACTION", required=True)
    fit = sub.add_parser("fit", help="fit a detector on reference data and save it")
    fit.add_argument("--kind", required=True, choices=sorted(KINDS), help="detector kind")
    fit.add_argument("--reference", required=True, type=Path, help="reference data: .csv, .npy or .parquet")
    fit.add_argument("--feature-names", nargs="+", help="feature names (default: csv/parquet header, else f0..)")
    fit.add_argument("--option", action="append", default=[], help="constructor option key=value (JSON values)")
    fit.add_argument("--out", required=True, type=Path, help="directory to save the detector to")
    fit.add_argument("--no-progress", action="store_true", help="no progress bar")
    serve = sub.add_parser("serve", help="serve a saved detector over HTTP")
    add_settings_arguments(serve, DetectorSettings, SERVE_FLAGS, skip=RESULTS_FIELDS)
    add_results_arguments(serve, DetectorSettings)
    consume = sub.add_parser("consume", help="run a detector on the logger's Kafka topic of records")
    consume.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, HOST:PORT[,HOST:PORT]")
    consume.add_argument(
        "--topic", required=True, help="topic of logged requests: the logger's records (kafka:// sink) or Seldon's"
    )
    consume.add_argument("--group", default="inferwatch-detector", help="consumer group (default: %(default)s)")
    add_settings_arguments(consume, DetectorSettings, CONSUME_FLAGS, skip=RESULTS_FIELDS)
    add_results_arguments(consume, DetectorSettings)


def _prepare_tensorflow(args: argparse.Namespace) -> None:
    """TensorFlow only in processes whose detector uses it (alibi-detect imports it eagerly, ~10 s)."""
    from inferwatch import tf_env

    if args.detector_command == "fit":
        tf_env.prepare(KINDS[args.kind].needs_tf)
        return
    from inferwatch.detectors.loader import needs_tensorflow

    tf_env.prepare(needs_tensorflow(from_cli(DetectorSettings, args).detector))


def run(args: argparse.Namespace) -> int:
    _prepare_tensorflow(args)
    if args.detector_command == "fit":
        from inferwatch.detectors.fit import fit_detector, parse_options

        fit_detector(
            args.kind,
            args.reference,
            args.out,
            feature_names=args.feature_names,
            options=parse_options(args.option),
            progress=not args.no_progress,
        )
        return 0
    if args.detector_command == "consume":
        return _consume(args)
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    from inferwatch.detectors.app import create_app, create_detector_admin_app
    from inferwatch.detectors.core import DetectorCore
    from inferwatch.detectors.results import start_results
    from inferwatch.serve import run as serve

    settings = from_cli(DetectorSettings, args)
    core = DetectorCore(settings)
    results = start_results(settings, core)
    log = logging.getLogger("inferwatch.detectors")
    log.info("%s detector from %s on %s:%d", core.detector_type, settings.detector, settings.host, settings.port)
    try:
        serve(
            create_app(settings, core, results),
            settings.host,
            settings.port,
            create_detector_admin_app(core),
            settings.metrics_port,
        )
    finally:
        results.publisher.close()
    return 0


def _consume(args: argparse.Namespace) -> int:
    from inferwatch.detectors.app import create_detector_admin_app
    from inferwatch.detectors.consume import RecordDetector
    from inferwatch.detectors.core import DetectorCore
    from inferwatch.detectors.results import start_results
    from inferwatch.serve import run as serve
    from inferwatch.sources.kafka import group_consumer

    settings = from_cli(DetectorSettings, args)
    core = DetectorCore(settings)
    results = start_results(settings, core, durable=True)  # offsets are committed once results are durable
    consumer = group_consumer(args.bootstrap.split(","), args.topic, args.group)
    worker = RecordDetector(core, results=results).in_background(consumer)
    logging.getLogger("inferwatch.detectors").info(
        "%s detector from %s consuming %s (group %s)", core.detector_type, settings.detector, args.topic, args.group
    )
    worker.start()
    try:
        serve(create_detector_admin_app(core), settings.host, settings.metrics_port)
    finally:
        worker.stop(30)
        consumer.close()
        core.close()
        results.publisher.close()
    return 0
