"""Dashboards and alert rules against the real Prometheus and promtool of the dev stack.

Every panel query of every Grafana dashboard runs against a Prometheus that scrapes the services' real
metric objects (the classes the logger, detectors, explainer and Kafka consumers register), fed through their own
recording methods, and must return series. The alert rules pass ``promtool check rules`` and their unit tests.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, start_http_server

from dashboards.build import DASHBOARDS, OUT, render, text
from devstack.prometheus import PrometheusService, promtool
from inferwatch.consumers.metrics import ConsumerMetrics
from inferwatch.delivery.metrics import DeliveryMetrics
from inferwatch.detectors.feedback import FeedbackCounter
from inferwatch.detectors.metrics import DetectorMetrics
from inferwatch.explainers.metrics import ExplainerMetrics
from inferwatch.logger.metrics import LoggerMetrics

RULES = Path(__file__).resolve().parents[2] / "dashboards" / "prometheus"


def test_committed_dashboards_match_the_spec() -> None:
    for d in DASHBOARDS:
        committed = OUT / f"{d.uid}.json"
        assert committed.read_text() == text(d), f"{committed} is stale: run python -m dashboards.build"


def test_dashboards_are_well_formed() -> None:
    for d in DASHBOARDS:
        doc = render(d)
        ids = [p["id"] for p in doc["panels"]]
        assert len(ids) == len(set(ids)) and doc["uid"] == d.uid
        for p in doc["panels"]:
            assert p["targets"], p["title"]
            assert p["gridPos"]["x"] >= 0 and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
            refs = [t["refId"] for t in p["targets"]]
            assert len(refs) == len(set(refs))
        names = [v["name"] for v in doc["templating"]["list"]]
        assert names == ["datasource", "job"]


@pytest.mark.prometheus
def test_alert_rules_pass_promtool_check_and_unit_tests(prometheus_service: PrometheusService) -> None:
    check = promtool("check", "rules", str(RULES / "alerts.yml"))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout + check.stderr
    tested = promtool("test", "rules", str(RULES / "alerts.test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.prometheus
def test_a_broken_rule_test_fails(tmp_path: Path, prometheus_service: PrometheusService) -> None:
    wrong = (RULES / "alerts.test.yml").read_text().replace("sink: kafka, reason: spool_full", "sink: es, reason: x")
    (tmp_path / "alerts.yml").write_text((RULES / "alerts.yml").read_text())
    (tmp_path / "alerts.test.yml").write_text(wrong)
    assert promtool("test", "rules", str(tmp_path / "alerts.test.yml")).returncode != 0


@pytest.fixture
def services_metrics() -> Iterator[tuple[int, Callable[[], None]]]:
    """A /metrics endpoint with the logger's, detectors', explainer's and Kafka consumers' real metric objects, and
    a function that records one more round of traffic through their own methods."""
    registry = CollectorRegistry()
    delivery, logger, detector, explainer = (
        DeliveryMetrics(registry),
        LoggerMetrics(registry),
        DetectorMetrics(registry),
        ExplainerMetrics(registry),
    )
    feedback = FeedbackCounter(registry)
    consumer = ConsumerMetrics(registry, "indexers")
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

    def traffic() -> None:
        delivery.received.labels("proxy").inc(10)
        delivery.written.labels("kafka").inc(10)
        delivery.dropped.labels("kafka", "spool_full").inc()
        delivery.sink_up.labels("kafka").set(1)
        delivery.queue_depth.labels("intake").set(3)
        delivery.batch_seconds.labels("kafka").observe(0.01)
        delivery.spool_bytes.labels("kafka").set(2048)
        delivery.spool_records.labels("kafka").set(4)
        logger.proxy_seconds.labels("POST", "200").observe(0.002)
        logger.upstream_errors.labels("timeout").inc()
        logger.events.labels("request", "accepted").inc()
        logger.pairing.pending.set(2)
        logger.rejected.labels("body_bytes").inc()  # one counter per registry: the detector's and explainer's too
        detector.instances.labels("outlier").inc(4)
        detector.instances.labels("drift").inc(4)
        detector.record_outlier({"is_outlier": [0, 1, 0, 1], "instance_score": [0.1, 3.2, 0.2, 2.9]}, names)
        detector.record_drift(
            {"is_drift": 1, "p_val": [0.5, 0.001, 0.2, 0.0001], "distance": [0.1, 0.6, 0.2, 0.7], "threshold": 0.0125},
            names,
        )
        detector.windows.labels("count").inc()
        detector.seconds.labels("drift").observe(0.03)
        explainer.latency.labels("anchor_tabular").observe(0.4)
        explainer.model_calls.labels("anchor_tabular").observe(3)
        explainer.explanations.labels("anchor_tabular").inc()
        explainer.errors.labels("UpstreamError").inc()
        feedback.count("iris", predicted=["0", "1", "2", "1"], truth=["0", "1", "1", "2"], classes=3, reward=None)
        consumer.lag.labels("records", "0", consumer.group).set(1200)
        consumer.lag.labels("records", "1", consumer.group).set(300)
        consumer.consumed.labels(consumer.group, "records").inc(10)
        consumer.written.labels(consumer.group, "elasticsearch").inc(9)
        consumer.dead_lettered.labels(consumer.group, "not_json").inc()
        consumer.write_retries.labels(consumer.group, "elasticsearch", "429").inc()
        consumer.commit_seconds.labels(consumer.group).observe(0.004)
        consumer.rebalances.labels(consumer.group, "assigned").inc()
        consumer.assigned.labels(consumer.group).set(2)
        consumer.pairing.pending.set(1)
        consumer.pairing.timeouts.labels("response").inc()
        consumer.pairing.superseded.labels("request").inc()
        consumer.pairing.overflow.labels("request").inc()

    traffic()
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    yield server.server_port, traffic
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _instantiate(expr: str, job: str) -> str:
    """A panel query as Grafana would send it for one job (``unique_name``: no regex metacharacters) and a
    1-minute rate window."""
    return re.sub(r"\$__rate_interval|\$__range", "1m", expr).replace("$job", job)


@pytest.mark.prometheus
def test_every_panel_query_returns_series_from_the_services_metrics(
    prometheus_service: PrometheusService,
    services_metrics: tuple[int, Callable[[], None]],
    unique_name: Callable[[str], str],
) -> None:
    port, traffic = services_metrics
    job = unique_name("dashboards")
    prometheus_service.add_scrape_target(job, f"127.0.0.1:{port}")
    try:
        queries = [
            (d.uid, p["title"], _instantiate(t["expr"], job))
            for d in DASHBOARDS
            for p in render(d)["panels"]
            for t in p["targets"]
        ]
        deadline = time.monotonic() + 60
        empty: list[tuple[str, str, str]] = queries
        while empty and time.monotonic() < deadline:
            traffic()  # counters move between scrapes, so rates and quantiles have two samples to work with
            time.sleep(1.5)
            empty = [q for q in queries if not prometheus_service.query(q[2])]
        assert not empty, "panels without data:\n" + "\n".join(f"{u} / {t}: {e}" for u, t, e in empty)
        # the job variable's metric carries this job for every dashboard
        for d in DASHBOARDS:
            series: list[dict[str, Any]] = prometheus_service.query(f'{d.job_metric}{{job="{job}"}}')
            assert series, d.job_metric
    finally:
        prometheus_service.remove_scrape_target(job, f"127.0.0.1:{port}")


@pytest.mark.prometheus
def test_prometheus_config_scrapes_every_service(prometheus_service: PrometheusService) -> None:
    checked = promtool("check", "config", str(RULES / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr  # also loads and checks alerts.yml
    config = (RULES / "prometheus.yml").read_text()
    for job in ("inferwatch-logger", "inferwatch-detector", "inferwatch-explainer", "inferwatch-consumer"):
        assert f"job_name: {job}" in config
    assert "alerts.yml" in config
