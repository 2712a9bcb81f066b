"""``inferwatch logger``: the request-logger sidecar (proxy mode or CloudEvents receiver)."""

from __future__ import annotations

import argparse
import logging

from inferwatch.cli_flags import add_settings_arguments
from inferwatch.logger.app import create_app, create_logger_admin_app
from inferwatch.logger.service import LoggerService
from inferwatch.logger.settings import LoggerSettings
from inferwatch.serve import run as serve
from inferwatch.settings import from_cli
from inferwatch.sinks import options_help

HELP = "record every prediction: reverse proxy in front of a model, or CloudEvents receiver"
DESCRIPTION = (
    """\
Records every prediction of a model, request and response paired, without slowing it down.

Two modes:
  proxy        inferwatch logger --upstream http://MODEL:PORT --port 8080
               Forwards every request to the model unchanged and returns its response unchanged,
               with the request id used in the 'x-request-id' response header. The id is taken from
               x-request-id, Seldon-Puid, Ce-Requestid or a V2 body's "id", else generated.
  cloudevents  inferwatch logger --port 8080            (no --upstream)
               Receives POST / CloudEvents from Seldon Core's executor (io.seldon.serving.inference.*)
               and KServe's logger (org.kubeflow.serving.inference.*), pairs request and response by
               request id; a half whose partner does not come within --pairing-ttl is stored as partial.

Sinks (repeat --sink; default: the embedded SQLite store in $INFERWATCH_HOME/inferwatch.db):
  sqlite:///path/to/file.db
"""
    + options_help()
    + """\
  A sink that is down or slow spills to its spool (--spool-dir) and is replayed in order later.

Durability (--durability; a full spool drops records, counted in inferwatch_records_dropped_total
{reason="spool_full"} and logged; a slow or failing sink never blocks the others):
  async (default)  the response goes back at once; records wait in memory (intake queue + each sink's
                   queue, --queue-size each, plus the batch being written). What the record builder cannot
                   take yet spills to the intake spool (--spool-dir/intake/) and is built in order later;
                   what a slow or failing sink cannot take spills to its on-disk spool (--spool-dir/<sink>/);
                   each at most --spool-max-bytes, replayed in order when there is room again and after a
                   restart. A crash loses at most the in-memory window; SIGTERM delivers or spools everything.
  sync             the response goes back only once the exchange is fsynced in a write-ahead log
                   (--spool-dir/intake-wal/; concurrent requests share one fsync). Nothing answered is
                   lost, even on SIGKILL or power loss: unacknowledged exchanges are re-submitted on the
                   next start (sinks store each request id once). Costs one fsync of latency per request.
                   In CloudEvents mode this covers feedback/outlier/drift events; request/response halves
                   are paired in memory first.

Requests with 'Seldon-Skip-Logging: true' are forwarded but not logged. Metrics and health are served
on --metrics-port (/metrics, /health/live, /health/ready). Ready: the model answers its probe (a TCP
connect, or --upstream-probe-path) and the intake has room; a sink that is down only shows in the body.
Live: every delivery thread runs. Every flag has an environment variable
INFERWATCH_LOGGER_<FLAG> (e.g. INFERWATCH_LOGGER_UPSTREAM); flags win.
"""
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """One flag per ``LoggerSettings`` field (``inferwatch.cli_flags``)."""
    add_settings_arguments(p, LoggerSettings)


def run(args: argparse.Namespace) -> int:
    settings = from_cli(LoggerSettings, args)
    service = LoggerService(settings)
    log = logging.getLogger("inferwatch.logger")
    service.start()
    where = f"proxying to {settings.upstream}" if settings.upstream else "receiving CloudEvents on POST /"
    log.info("logger listening on %s:%d, %s", settings.host, settings.port, where)
    if settings.metrics_port:
        log.info("metrics on http://%s:%d/metrics", settings.host, settings.metrics_port)
    try:
        serve(
            create_app(service),
            settings.host,
            settings.port,
            create_logger_admin_app(service),
            settings.metrics_port,
            proxy=settings.mode == "proxy",
        )
    finally:
        service.stop()
        log.info("logger stopped; all accepted records delivered or counted as dropped")
    return 0
