"""``inferwatch devstack up|down|status``: real Kafka, Elasticsearch, OpenSearch, Prometheus on 127.0.0.1."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from devstack.services import SERVICES
from devstack.stack import DevstackSettings, ServiceStatus, Stack, load_service_class, parse_only
from inferwatch.settings import from_cli

HELP = "start, stop and inspect the local dev stack (Kafka, Elasticsearch, OpenSearch, Prometheus)"

DESCRIPTION = """\
Run real servers on 127.0.0.1 without Docker, the same ones the test suite uses.

  inferwatch devstack up [--only kafka,prometheus]    install (cached), start, wait until ready
  inferwatch devstack status [--json]                 ports, pids, readiness, start-up seconds, logs
  inferwatch devstack down [--only kafka]             stop what 'up' started (by pid file, never by name)

'up' is idempotent: a service that is already running and ready is left alone. Stopping one service and
starting it again is how fault tests take a server away. Downloads (Maven jars, the Debian prometheus
package) are cached under INFERWATCH_CACHE_DIR (~/.cache/inferwatch); data, logs and pid files live under
INFERWATCH_HOME/devstack/<service>/ (~/.local/share/inferwatch).

Default ports: kafka 19092 (KRaft controller 19093), elasticsearch 19200, opensearch 19201,
prometheus 19090. Change them with the flags below or INFERWATCH_DEVSTACK_<SERVICE>_PORT
(INFERWATCH_DEVSTACK_KAFKA_CONTROLLER_PORT for the controller listener).
"""

_COLUMNS = ("name", "url", "port", "pid", "running", "ready", "startup_seconds", "log_file")


def _common_flags() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--only",
        default=None,
        metavar="NAMES",
        help=f"comma-separated services (default: all of {','.join(SERVICES)})",
    )
    for name, target in SERVICES.items():
        default = load_service_class(target).default_port
        env = f"INFERWATCH_DEVSTACK_{name.upper()}_PORT"
        common.add_argument(
            f"--{name}-port", type=int, default=None, metavar="PORT", help=f"default {default}, or ${env}"
        )
    return common


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = _common_flags()
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("up", parents=[common], help="start services and wait until they are ready")
    up.add_argument("--ready-timeout", type=float, default=None, metavar="SECONDS", help="override readiness timeouts")
    actions.add_parser("down", parents=[common], help="stop the services 'up' started")
    status = actions.add_parser("status", parents=[common], help="show ports, pids, readiness and start-up times")
    status.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


def _table(rows: Sequence[ServiceStatus]) -> str:
    def cell(row: ServiceStatus, col: str) -> str:
        value = row.to_dict()[col]
        if col == "startup_seconds":
            return "-" if value is None else f"{value:.1f}s"
        return "-" if value is None else str(value).lower() if isinstance(value, bool) else str(value)

    header = [c.replace("_seconds", "").upper() for c in _COLUMNS]
    body = [[cell(r, c) for c in _COLUMNS] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *body, strict=True)]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in [header, *body]
    )


def run(args: argparse.Namespace) -> int:
    # kafka-python logs every connection of the readiness probe at INFO: keep the CLI output readable.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLogger().getEffectiveLevel()))
    settings = from_cli(DevstackSettings, args)
    stack = Stack(settings)
    names = parse_only(args.only)
    out = sys.stdout
    if args.action == "up":
        for name in names:
            row = stack.up_one(name)
            verb = "started" if row.started else "already running"
            out.write(f"{name}: {verb} on {row.url} (pid {row.pid}), start-up {row.startup_seconds}s\n")
            out.flush()
        out.write(_table(stack.status(names)) + "\n")
    elif args.action == "down":
        for row in stack.down(names):
            out.write(f"{row.name}: {'still running' if row.running else 'stopped'}\n")
    else:
        rows = stack.status(names)
        if args.json:
            out.write(json.dumps([r.to_dict() for r in rows], indent=2) + "\n")
        else:
            out.write(_table(rows) + "\n")
    return 0
