"""The README's main command: `inferwatch demo` serves the seed curl and `inferwatch audit` shows it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.servers import free_port, free_port_block

SEED = {"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "INFERWATCH_HOME": str(home)}


def _inferwatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "inferwatch.cli", *args]


def test_demo_serves_the_seed_curl_and_audit_shows_the_paired_record(tmp_path: Path) -> None:
    port, model_port, metrics_port = free_port(), free_port(), free_port()
    log = (tmp_path / "demo.log").open("w")
    proc = subprocess.Popen(
        _inferwatch(
            "demo",
            "--port",
            str(port),
            "--model-port",
            str(model_port),
            "--metrics-port",
            str(metrics_port),
            "--no-detectors",
            "--no-explainer",
        ),
        env=_env(tmp_path),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.post(
                    f"http://localhost:{port}/api/v1.0/predictions",
                    json=SEED,
                    headers={"Content-Type": "application/json"},
                )
                break
            except httpx.TransportError:
                assert proc.poll() is None, (tmp_path / "demo.log").read_text()
                assert time.monotonic() < deadline, "demo did not start within 60 s"
                time.sleep(0.2)
        assert r.status_code == 200
        probs = r.json()["data"]["ndarray"][0]
        assert abs(sum(probs) - 1.0) < 1e-6 and probs[0] > 0.5  # setosa
        rid = r.headers["x-request-id"]
        metrics = httpx.get(f"http://localhost:{metrics_port}/metrics").text
        assert "inferwatch_records_received_total" in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        log.close()
    printed = (tmp_path / "demo.log").read_text()
    assert "curl -X POST http://localhost:" in printed and "inferwatch audit" in printed
    out = subprocess.run(
        _inferwatch("audit", "--request-id", rid, "--json"),
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rec = json.loads(out.splitlines()[0])
    assert rec["id"] == rid and rec["status_code"] == 200 and rec["protocol"] == "seldon"
    assert json.loads(rec["request"]["raw"]) == SEED
    assert json.loads(rec["response"]["raw"])["data"]["ndarray"][0] == probs
    assert rec["instances"][0]["request"] and rec["instances"][0]["response"]
    table = subprocess.run(
        _inferwatch("audit", "--since", "10m", "-v"),
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert rid in table and "1 record(s)" in table


def test_demo_self_test_exits_zero(tmp_path: Path) -> None:
    base = free_port_block(9)  # logger, model, metrics, 4 detector ports, explainer and its metrics
    ports = [str(base + i) for i in (0, 1, 2, 3, 7)]
    out = subprocess.run(
        _inferwatch(
            "demo",
            "--self-test",
            "--port",
            ports[0],
            "--model-port",
            ports[1],
            "--metrics-port",
            ports[2],
            "--detector-port",
            ports[3],
            "--explainer-port",
            ports[4],
        ),
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Recorded:" in out.stdout and '"instances"' in out.stdout
    # the requests also reached the outlier and drift detectors, whose metrics are printed
    assert 'inferwatch_detector_instances_total{detector_type="outlier"} 3.0' in out.stdout
    assert 'inferwatch_detector_instances_total{detector_type="drift"} 3.0' in out.stdout
    # the outlier verdicts are stored under the requests' ids (one per instance of the V2 batch of two)
    assert "Stored detector results" in out.stdout
    assert " outlier[0]: {'instance_score'" in out.stdout and " outlier[1]: {'instance_score'" in out.stdout
    # and the explainer answered the seed instance with an anchor
    assert "POST /api/v1.0/explain -> 200 anchor=['petal" in out.stdout


def test_audit_without_a_store_says_what_to_do(tmp_path: Path) -> None:
    out = subprocess.run(_inferwatch("audit"), env=_env(tmp_path), capture_output=True, text=True)
    assert out.returncode == 2
    assert "inferwatch demo" in out.stderr and "--store" in out.stderr
