"""Grafana dashboards of the inferwatch services, written from one compact spec.

``python -m dashboards.build`` rewrites ``dashboards/grafana/*.json``; ``tests/dashboards`` checks that the
committed files match this spec and runs every panel query against the dev stack's real Prometheus.
Every dashboard has a ``datasource`` variable (any Prometheus) and a ``job`` variable (the scrape jobs of
that service: one detector, explainer, logger or consumer per job, as in ``dashboards/prometheus/prometheus.yml``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "grafana"
R = "[$__rate_interval]"
JOB = 'job=~"$job"'


@dataclass(frozen=True)
class Panel:
    title: str
    targets: list[tuple[str, str]]
    """``(PromQL, legend)`` pairs."""
    unit: str = "short"
    kind: str = "timeseries"
    description: str = ""
    width: int = 12


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    job_metric: str
    """A metric every target of this service exposes; the ``job`` variable lists its jobs."""
    panels: list[Panel] = field(default_factory=list)


REFUSED = Panel(
    "Requests refused by a limit /s",
    [(f"sum by (limit) (rate(inferwatch_http_rejected_total{{{JOB}}}{R}))", "{{limit}}")],
    "reqps",
    description="Answered 413/431/408/400 (or not decoded) because they crossed a transport limit: the flag is"
    " named in the answer (--max-body-bytes, --max-json-depth...; README, Limits).",
)


def _p(q: float, metric: str, by: str = "") -> str:
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{JOB}}}{R})))"


LOGGER = Dashboard(
    "inferwatch-logger",
    "inferwatch / request logger",
    "Traffic through the logger, what it adds to each prediction, and where every record went.",
    "inferwatch_records_received_total",
    [
        Panel(
            "Records accepted /s",
            [(f"sum by (source) (rate(inferwatch_records_received_total{{{JOB}}}{R}))", "{{source}}")],
            "reqps",
            description="Predictions accepted for delivery, by how they arrived (proxy, cloudevents).",
        ),
        Panel(
            "Proxy latency (model included)",
            [
                (_p(0.5, "inferwatch_logger_proxy_duration_seconds"), "p50"),
                (_p(0.99, "inferwatch_logger_proxy_duration_seconds"), "p99"),
            ],
            "s",
        ),
        Panel(
            "Records written /s by sink",
            [(f"sum by (sink) (rate(inferwatch_sink_records_written_total{{{JOB}}}{R}))", "{{sink}}")],
            "reqps",
        ),
        Panel(
            "Records dropped by sink and reason",
            [
                (
                    f"sum by (sink, reason) (increase(inferwatch_records_dropped_total{{{JOB}}}{R}))",
                    "{{sink}} {{reason}}",
                )
            ],
            description="Should stay at 0: every drop is also logged with its reason.",
        ),
        Panel("Sink up", [(f"min by (sink) (inferwatch_sink_up{{{JOB}}})", "{{sink}}")], kind="stat", width=6),
        Panel(
            "Spool backlog (records)",
            [(f"sum by (sink) (inferwatch_spool_records{{{JOB}}})", "{{sink}}")],
            description="Records waiting on disk for a sink that failed; replayed in order when it is back.",
            width=6,
        ),
        Panel(
            "Spool size",
            [(f"sum by (sink) (inferwatch_spool_bytes{{{JOB}}})", "{{sink}}")],
            "bytes",
            width=6,
        ),
        Panel("Queue depth", [(f"max by (queue) (inferwatch_queue_depth{{{JOB}}})", "{{queue}}")], width=6),
        Panel(
            "Sink batch write p99",
            [(_p(0.99, "inferwatch_sink_batch_seconds", "sink"), "{{sink}}")],
            "s",
        ),
        Panel(
            "Model server errors /s",
            [(f"sum by (reason) (rate(inferwatch_logger_upstream_errors_total{{{JOB}}}{R}))", "{{reason}}")],
            "reqps",
        ),
        Panel(
            "CloudEvents /s (receiver mode)",
            [(f"sum by (kind, outcome) (rate(inferwatch_logger_events_total{{{JOB}}}{R}))", "{{kind}} {{outcome}}")],
            "reqps",
        ),
        Panel(
            "Halves waiting for their partner",
            [(f"sum(inferwatch_logger_pairing_pending{{{JOB}}})", "pending")],
        ),
        REFUSED,
    ],
)

DETECTORS = Dashboard(
    "inferwatch-detectors",
    "inferwatch / detectors",
    "Outliers, drift per feature and detector cost. One detector per scrape job; Seldon's metric names.",
    "inferwatch_detector_instances_total",
    [
        Panel(
            "Outliers /s",
            [(f"sum by (job) (rate(seldon_metric_outlier_is_outlier_total{{{JOB}}}{R}))", "{{job}}")],
            "reqps",
        ),
        Panel(
            "Outlier share of instances",
            [
                (
                    f"sum by (job) (rate(seldon_metric_outlier_is_outlier_total{{{JOB}}}{R}))"
                    f" / sum by (job) (rate(inferwatch_detector_instances_total{{{JOB}}}{R}))",
                    "{{job}}",
                )
            ],
            "percentunit",
        ),
        Panel(
            "Last outlier score",
            [(f"max by (job) (seldon_metric_outlier_instance_score{{{JOB}}})", "{{job}}")],
        ),
        Panel(
            "Drift (detector-wide)",
            [(f'max by (job) (seldon_metric_drift_is_drift{{{JOB}, feature=""}})', "{{job}}")],
            kind="stat",
            width=6,
        ),
        Panel(
            "Features drifting",
            [(f'sum by (job) (seldon_metric_drift_is_drift{{{JOB}, feature!=""}})', "{{job}}")],
            kind="stat",
            width=6,
        ),
        Panel(
            "p-value per feature (last window)",
            [(f'min by (job, feature) (seldon_metric_drift_p_val{{{JOB}, feature!=""}})', "{{job}} {{feature}}")],
            description="Below the threshold (dashed) means that feature drifted.",
        ),
        Panel(
            "Distance per feature (last window)",
            [(f'max by (job, feature) (seldon_metric_drift_distance{{{JOB}, feature!=""}})', "{{job}} {{feature}}")],
        ),
        Panel(
            "Drift windows /min by trigger",
            [(f"60 * sum by (trigger) (rate(inferwatch_detector_windows_total{{{JOB}}}{R}))", "{{trigger}}")],
        ),
        Panel(
            "Detector predict p50 / p99",
            [
                (_p(0.5, "inferwatch_detector_duration_seconds", "detector_type"), "p50 {{detector_type}}"),
                (_p(0.99, "inferwatch_detector_duration_seconds", "detector_type"), "p99 {{detector_type}}"),
            ],
            "s",
        ),
        Panel(
            "Instances /s",
            [(f"sum by (detector_type) (rate(inferwatch_detector_instances_total{{{JOB}}}{R}))", "{{detector_type}}")],
            "reqps",
        ),
        Panel(
            "Accuracy from feedback",
            [(f'max by (model_name) (inferwatch_feedback_accuracy{{{JOB}, class=""}})', "{{model_name}}")],
            "percentunit",
            description="Correct predictions among the instances whose truth came back through /send-feedback.",
        ),
        Panel(
            "Feedback confusion counts /s by class",
            [
                (f"sum by (class) (rate(seldon_metric_true_positive_total{{{JOB}}}{R}))", "TP {{class}}"),
                (f"sum by (class) (rate(seldon_metric_false_positive_total{{{JOB}}}{R}))", "FP {{class}}"),
                (f"sum by (class) (rate(seldon_metric_false_negative_total{{{JOB}}}{R}))", "FN {{class}}"),
            ],
            "reqps",
            description="One-vs-rest per class; for a binary model class CLASS_1 gives Seldon's binary counters.",
        ),
        REFUSED,
    ],
)

EXPLAINER = Dashboard(
    "inferwatch-explainer",
    "inferwatch / explainer",
    "Explanations served, their latency, and how many model calls each one needs.",
    "inferwatch_explainer_explanations_total",
    [
        Panel(
            "Explanations /s",
            [(f"sum by (kind) (rate(inferwatch_explainer_explanations_total{{{JOB}}}{R}))", "{{kind}}")],
            "reqps",
        ),
        Panel(
            "Explain latency p50 / p99",
            [
                (_p(0.5, "inferwatch_explainer_explain_seconds", "kind"), "p50 {{kind}}"),
                (_p(0.99, "inferwatch_explainer_explain_seconds", "kind"), "p99 {{kind}}"),
            ],
            "s",
        ),
        Panel(
            "Model calls per explanation (mean)",
            [
                (
                    f"sum by (kind) (rate(inferwatch_explainer_model_calls_sum{{{JOB}}}{R}))"
                    f" / sum by (kind) (rate(inferwatch_explainer_model_calls_count{{{JOB}}}{R}))",
                    "{{kind}}",
                )
            ],
            description="The perturbations of one explanation go to the model in batches: fewer calls, less time.",
        ),
        Panel(
            "Errors /s by type",
            [(f"sum by (type) (rate(inferwatch_explainer_errors_total{{{JOB}}}{R}))", "{{type}}")],
            "reqps",
        ),
        REFUSED,
    ],
)

CONSUMERS = Dashboard(
    "inferwatch-consumers",
    "inferwatch / Kafka consumers",
    "inferwatch consume index|replay: how far each consumer group is behind, what it consumed and wrote, dead"
    " letters, retries, commits and rebalances. Every series carries the consumer group (replay: group replay).",
    "inferwatch_consumer_assigned_partitions",
    [
        Panel(
            "Lag by group and topic (messages)",
            [(f"sum by (group, topic) (inferwatch_consumer_lag{{{JOB}}})", "{{group}} {{topic}}")],
            description="End offsets minus the group's positions, summed over the partitions; growing means the"
            " group reads slower than producers write (alert InferwatchConsumerLagGrowing).",
        ),
        Panel(
            "Largest partition lag",
            [(f"max by (group, topic) (inferwatch_consumer_lag{{{JOB}}})", "{{group}} {{topic}}")],
            description="Far above the sum's share of one partition: a skewed key or a stuck member.",
        ),
        Panel(
            "Messages consumed /s by topic",
            [(f"sum by (group, topic) (rate(inferwatch_consumer_consumed_total{{{JOB}}}{R}))", "{{group}} {{topic}}")],
            "reqps",
        ),
        Panel(
            "Records written /s by sink",
            [(f"sum by (group, sink) (rate(inferwatch_consumer_written_total{{{JOB}}}{R}))", "{{group}} {{sink}}")],
            "reqps",
            description="Acknowledged by the sink; a redelivered record is written again (sinks are idempotent by id).",
        ),
        Panel(
            "Dead letters by reason",
            [
                (
                    f"sum by (group, reason) (increase(inferwatch_consumer_dead_lettered_total{{{JOB}}}{R}))",
                    "{{group}} {{reason}}",
                )
            ],
            description="Should stay at 0. Each dead letter's headers carry the reason and its source topic,"
            " partition and offset (alert InferwatchConsumerDeadLetters).",
        ),
        Panel(
            "Write retries /s by sink and reason",
            [
                (
                    f"sum by (sink, reason) (rate(inferwatch_consumer_write_retries_total{{{JOB}}}{R}))",
                    "{{sink}} {{reason}}",
                )
            ],
            "reqps",
            description="A sink answered 429/5xx or was unreachable; nothing is committed until the write passes.",
        ),
        Panel(
            "Offset commit p50 / p99",
            [
                (_p(0.5, "inferwatch_consumer_commit_duration_seconds", "group"), "p50 {{group}}"),
                (_p(0.99, "inferwatch_consumer_commit_duration_seconds", "group"), "p99 {{group}}"),
            ],
            "s",
        ),
        Panel(
            "Rebalances",
            [
                (
                    f"sum by (group, kind) (increase(inferwatch_consumer_rebalances_total{{{JOB}}}{R}))",
                    "{{group}} {{kind}}",
                )
            ],
            description="Partitions assigned to and revoked from the members; a steady stream means members keep"
            " leaving the group (crashes, or polls slower than max.poll.interval.ms).",
        ),
        Panel(
            "Assigned partitions",
            [(f"sum by (group) (inferwatch_consumer_assigned_partitions{{{JOB}}})", "{{group}}")],
            kind="stat",
            width=6,
            description="Held by the scraped members of each group; 0 on a member that stands by.",
        ),
        Panel(
            "Halves waiting for their partner",
            [(f"sum(inferwatch_consumer_pairing_pending{{{JOB}}})", "pending")],
            description="Seldon's request and response halves, paired by request id.",
            width=6,
        ),
        Panel(
            "Partial records /s (Seldon halves)",
            [
                (
                    f"sum by (missing) (rate(inferwatch_consumer_pairing_timeouts_total{{{JOB}}}{R}))",
                    "timeout, {{missing}} missing",
                ),
                (
                    f"sum by (kind) (rate(inferwatch_consumer_pairing_superseded_total{{{JOB}}}{R}))",
                    "superseded {{kind}}",
                ),
                (
                    f"sum by (kind) (rate(inferwatch_consumer_pairing_overflow_total{{{JOB}}}{R}))",
                    "over the byte limit {{kind}}",
                ),
            ],
            "reqps",
            description="Halves written without their partner: it never came within the TTL, the same half came"
            " again, or the waiting halves held more than the pairing byte limit. Never dropped.",
        ),
    ],
)

DASHBOARDS = (LOGGER, DETECTORS, EXPLAINER, CONSUMERS)


def render(d: Dashboard) -> dict[str, Any]:
    """The Grafana dashboard JSON (schema 39) of ``d``."""
    ds = {"type": "prometheus", "uid": "${datasource}"}
    panels: list[dict[str, Any]] = []
    x = y = 0
    for i, p in enumerate(d.panels, start=1):
        height = 4 if p.kind == "stat" else 8
        if x + p.width > 24:
            x, y = 0, y + 8
        panels.append(
            {
                "id": i,
                "type": p.kind,
                "title": p.title,
                "description": p.description,
                "datasource": ds,
                "gridPos": {"h": height, "w": p.width, "x": x, "y": y},
                "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if p.kind == "timeseries" else {},
                "targets": [
                    {"datasource": ds, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + j)}
                    for j, (expr, legend) in enumerate(p.targets)
                ],
            }
        )
        x += p.width
    return {
        "uid": d.uid,
        "title": d.title,
        "description": d.description,
        "tags": ["inferwatch"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "browser",
        "templating": {
            "list": [
                {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"},
                {
                    "name": "job",
                    "label": "Job",
                    "type": "query",
                    "datasource": ds,
                    "query": {"query": f"label_values({d.job_metric}, job)", "refId": "jobs"},
                    "definition": f"label_values({d.job_metric}, job)",
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {"text": "All", "value": "$__all"},
                    "refresh": 2,
                },
            ]
        },
        "panels": panels,
    }


def text(d: Dashboard) -> str:
    """The file content of ``d`` (stable formatting, so the committed files can be compared)."""
    return json.dumps(render(d), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dashboards.build", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=OUT, help=f"directory to write into (default {OUT})")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for d in DASHBOARDS:
        (args.out / f"{d.uid}.json").write_text(text(d))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
