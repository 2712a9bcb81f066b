"""``inferwatch audit``: search logged predictions in a store."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import orjson

from inferwatch import timestamps
from inferwatch.records import Flag, InferenceRecord
from inferwatch.results import ResultRecord
from inferwatch.settings import common
from inferwatch.stores import RecordQuery, open_store

HELP = "search logged predictions by request id, model, time range or flag"
DESCRIPTION = """\
Search the records the logger stored. Without --store, the embedded store the logger and the demo use
($INFERWATCH_HOME/inferwatch.db) is searched; --store elasticsearch://HOST:PORT[?index=...] (or opensearch://)
searches the documents the logger's search sink wrote, with the same URI (index template) as the sink.
--flag outlier finds the requests a detector flagged (its result merged into the record).

Times (--since/--until) are ISO-8601 ('2026-11-25T10:00:00Z', '2026-11-25') or relative to now
('15m', '2h', '7d'). Results are newest first. With --json, one JSON record per line (the same form every
sink stores); else a short table, with --verbose adding the decoded instances. With --request-id, the
detector and explainer results stored for that request (outlier, adversarial, drift of online detectors,
explanation) are shown under its record (JSON: one line each, "record_type": "result"); when nothing has that
request id, the exit status is 1 (a search by other criteria that matches nothing exits 0).

Examples:
  inferwatch audit --request-id 3f2a...        one exchange, request and response
  inferwatch audit --model iris --since 1h     the last hour of one model
  inferwatch audit --flag partial --json       every half whose partner never came
  inferwatch audit --store elasticsearch://127.0.0.1:9200 --flag outlier --since 1d
"""

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        help="store URI: sqlite:///path/inferwatch.db (default: the embedded store), elasticsearch://HOST:PORT, "
        "opensearch://HOST:PORT (with the sink's ?index= if it set one)",
    )
    p.add_argument("--request-id", help="exact request id (batch items '<id>-item-<n>' match too)")
    p.add_argument("--model", help="model name")
    p.add_argument("--since", type=parse_time, help="only records received at or after this time")
    p.add_argument("--until", type=parse_time, help="only records received before this time")
    p.add_argument(
        "--flag",
        choices=[*(f.value for f in Flag), "outlier"],
        help="records with this flag; outlier: a detector's result says is_outlier",
    )
    p.add_argument("--limit", type=int, default=20, help="at most this many records (default %(default)s)")
    p.add_argument("--json", action="store_true", help="JSON lines output")
    p.add_argument("--verbose", "-v", action="store_true", help="show decoded instances in the table")


def parse_time(value: str) -> datetime:
    """ISO-8601 (naive means UTC) or a duration before now such as ``15m``."""
    m = _RELATIVE.match(value.strip())
    if m:
        return datetime.now(UTC) - timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})
    try:
        return timestamps.parse(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a time: {value!r} (use ISO-8601 or e.g. 15m, 2h, 7d)") from e


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    store = open_store(args.store or common().default_store_uri)
    try:
        records = store.query(RecordQuery(args.request_id, args.model, args.since, args.until, args.flag, args.limit))
        results = store.results_for(sorted({args.request_id, *(r.id for r in records)})) if args.request_id else []
    finally:
        store.close()
    if args.request_id and not records and not results:  # a lookup that finds nothing is a failure (scripts)
        where = args.store or common().default_store_uri
        sys.stderr.write(f"no record or result with request id {args.request_id!r} in {where}\n")
        return 1
    if args.json:
        for r in records:
            out.write(r.to_json().decode() + "\n")
        for res in results:
            out.write(res.to_json().decode() + "\n")
        return 0
    if not records and not results:
        out.write("no matching records\n")
        return 0
    for r in records:
        out.write(_line(r) + "\n")
        if args.verbose:
            for i, inst in enumerate(r.instances):
                out.write(f"    [{i}] request={_short(inst.get('request'))} response={_short(inst.get('response'))}\n")
        for res in results:
            if res.request_id == r.id:
                out.write(_result_line(res) + "\n")
    orphans = [res for res in results if res.request_id not in {r.id for r in records}]
    if orphans:
        out.write(f"results for {args.request_id} (its record is not in this store):\n")
        out.writelines(_result_line(res) + "\n" for res in orphans)
    out.write(f"{len(records)} record(s)" + (f", {len(results)} result(s)" if results else "") + "\n")
    return 0


def _result_line(res: ResultRecord) -> str:
    item = f"[{res.item}] " if res.item is not None else ""
    data = res.body.get("data", res.body)
    return f"    {item}{res.kind} by {res.source or '-'} at {timestamps.iso(res.created_at)}: {_short(data)}"


def _line(r: InferenceRecord) -> str:
    latency = f"{r.latency_ms:.1f}ms" if r.latency_ms is not None else "-"
    flags = ",".join(r.flags) or "-"
    return (
        f"{timestamps.iso(r.received_at)}  {r.id}  model={r.model_name or '-'}  {r.method or r.source} "
        f"{r.path or ''}  status={r.status_code or '-'}  {latency}  "
        f"instances={len(r.instances)}  flags={flags}"
    )


def _short(v: Any) -> str:
    s = orjson.dumps(v).decode()
    return s if len(s) <= 200 else s[:197] + "..."
