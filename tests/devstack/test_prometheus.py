"""The dev-stack Prometheus: it scrapes a /metrics endpoint a test starts and answers through its HTTP API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from devstack.base import ServicePaths
from devstack.prometheus import PrometheusError, PrometheusService, check_config

pytestmark = pytest.mark.prometheus


def wait_for(query: Callable[[], list[dict[str, Any]]], timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        result = query()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(0.5)


@pytest.fixture
def metrics_endpoint() -> Iterator[tuple[int, CollectorRegistry]]:
    """A real /metrics endpoint on 127.0.0.1 with its own registry."""
    registry = CollectorRegistry()
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    yield server.server_port, registry
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_generated_config_passes_promtool(prometheus_service: PrometheusService) -> None:
    output = check_config(prometheus_service.config_file)
    assert "SUCCESS" in output
    assert prometheus_service.check_config() == output


def test_promtool_rejects_a_broken_config(tmp_path: Path, prometheus_service: PrometheusService) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("scrape_configs:\n  - job_name: x\n    scrape_interval: not-a-duration\n")
    with pytest.raises(PrometheusError, match="not-a-duration"):
        check_config(bad)


def test_scrapes_a_test_endpoint_and_serves_the_series(
    prometheus_service: PrometheusService,
    metrics_endpoint: tuple[int, CollectorRegistry],
    unique_name: Callable[[str], str],
) -> None:
    port, registry = metrics_endpoint
    requests = Counter("iw_devstack_requests", "requests seen", ["model"], registry=registry)
    requests.labels(model="iris").inc(42)
    Gauge("iw_devstack_queue_depth", "queue depth", registry=registry).set(7)
    job = unique_name("job")
    target = prometheus_service.add_scrape_target(job, f"127.0.0.1:{port}", {"suite": "devstack"})
    try:
        series = wait_for(lambda: prometheus_service.query(f'iw_devstack_requests_total{{job="{job}"}}'))
        assert len(series) == 1
        labels, (_, value) = series[0]["metric"], series[0]["value"]
        assert float(value) == 42.0
        assert labels == {
            "__name__": "iw_devstack_requests_total",
            "job": job,
            "instance": f"127.0.0.1:{port}",
            "suite": "devstack",
            "model": "iris",
        }
        assert float(prometheus_service.query(f'up{{job="{job}"}}')[0]["value"][1]) == 1.0
        depth = prometheus_service.query(f'iw_devstack_queue_depth{{job="{job}"}}')
        assert float(depth[0]["value"][1]) == 7.0

        requests.labels(model="iris").inc(8)  # a later scrape sees the new value
        later = wait_for(lambda: prometheus_service.query(f'iw_devstack_requests_total{{job="{job}"}} == 50'))
        assert float(later[0]["value"][1]) == 50.0
    finally:
        prometheus_service.remove_scrape_target(job, f"127.0.0.1:{port}")
    assert not target.exists()


def test_query_reports_a_bad_expression(prometheus_service: PrometheusService) -> None:
    with pytest.raises(PrometheusError, match="sum\\("):
        prometheus_service.query("sum(")


def test_add_scrape_target_writes_a_file_sd_group(tmp_path: Path) -> None:
    paths = ServicePaths(data=tmp_path / "data", logs=tmp_path / "logs", cache=tmp_path / "cache")
    svc = PrometheusService(paths, port=29090)
    path = svc.add_scrape_target("detector", "127.0.0.1:8000", {"model": "iris"}, metrics_path="/prometheus")
    assert path.parent == svc.targets_dir
    assert json.loads(path.read_text()) == [
        {
            "targets": ["127.0.0.1:8000"],
            "labels": {"model": "iris", "job": "detector", "__metrics_path__": "/prometheus"},
        }
    ]
    svc.prepare()
    config = json.loads(svc.config_file.read_text())
    assert config["scrape_configs"][0]["file_sd_configs"][0]["files"] == [str(svc.targets_dir / "*.json")]
    assert config["global"]["scrape_interval"] == "1s"
    assert "--web.listen-address=127.0.0.1:29090" in svc.command()
