"""Detection on a real Kafka topic written by the logger's Kafka sink: every record reaches the detector,
drift windows close, offsets are committed after processing, a bad message does not block the partition."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, KafkaProducer

from inferwatch.capture import Body, Exchange, RecordBuilder
from inferwatch.demo.model_server import FEATURES, write_iris_reference
from inferwatch.detectors.app import create_detector_admin_app
from inferwatch.detectors.consume import RecordDetector
from inferwatch.detectors.core import DetectorCore
from inferwatch.detectors.fit import fit_detector
from inferwatch.detectors.settings import DetectorSettings
from inferwatch.sinks import open_sink
from inferwatch.sources.kafka import group_consumer
from tests.servers import free_port

pytestmark = pytest.mark.kafka


def _records(n: int, shift: float) -> list[Any]:
    builder = RecordBuilder()
    out = []
    for i in range(n):
        row = [5.0 + shift + (i % 10) / 10, 3.0, 1.5 + (i % 7) / 2, 0.2 + (i % 5) / 2]
        body = json.dumps({"data": {"names": FEATURES, "ndarray": [row]}}).encode()
        ex = Exchange(
            request_id=f"r{i}",
            received_at=time.time(),
            method="POST",
            path="/api/v1.0/predictions",
            request=Body(body, "application/json", len(body)),
            status_code=200,
        )
        out.append(builder.build(ex))
    return out


def _core(tmp_path: Path) -> DetectorCore:
    ref = write_iris_reference(tmp_path / "iris.csv")
    fit_detector("ks", ref, tmp_path / "ks", feature_names=FEATURES, progress=False)
    settings = DetectorSettings(detector=tmp_path / "ks", batch_size=20, state_dir=tmp_path / "state", metrics_port=0)
    return DetectorCore(settings)


def _consumer(bootstrap: str, topic: str, group: str) -> KafkaConsumer:
    consumer: KafkaConsumer = group_consumer(bootstrap, topic, group)
    return consumer


def test_records_from_the_logger_topic_are_detected_and_committed(
    tmp_path: Path, kafka_bootstrap: str, unique_name: Any
) -> None:
    topic, group = unique_name("records"), unique_name("detector")
    sink = open_sink(f"kafka://{kafka_bootstrap}?topic={topic}")
    sink.write(_records(40, shift=3.0))  # sepal length far above iris: drift
    sink.close()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(topic, b"not a record").get(30)
    producer.close()

    core = _core(tmp_path)
    results: list[tuple[str, dict[str, Any]]] = []
    detector = RecordDetector(core, on_result=lambda rid, r: results.append((rid, r)))
    consumer = _consumer(kafka_bootstrap, topic, group)
    try:
        handled = detector.consume(consumer, max_records=41, idle_timeout=30)
    finally:
        consumer.close()
    assert handled == 41
    reg = core.registry
    assert reg.get_sample_value("inferwatch_consumer_records_total", {"outcome": "detected"}) == 40
    assert reg.get_sample_value("inferwatch_consumer_records_total", {"outcome": "unusable"}) == 1
    assert reg.get_sample_value("inferwatch_detector_instances_total", {"detector_type": "drift"}) == 40
    closed = [r for _, r in results if not r["data"].get("pending")]
    assert len(closed) == 2  # two windows of 20 instances
    assert all(r["data"]["is_drift"] == 1 for r in closed)
    assert sorted(rid for rid, _ in results) == sorted(f"r{i}" for i in range(40))

    again = _consumer(kafka_bootstrap, topic, group)  # same group: everything was committed
    try:
        assert RecordDetector(_core(tmp_path / "second")).consume(again, idle_timeout=3) == 0
    finally:
        again.close()


def test_detector_consume_command_runs_until_sigterm(tmp_path: Path, kafka_bootstrap: str, unique_name: Any) -> None:
    topic = unique_name("records-cli")
    sink = open_sink(f"kafka://{kafka_bootstrap}?topic={topic}")
    sink.write(_records(25, shift=0.0))
    sink.close()
    ref = write_iris_reference(tmp_path / "iris.csv")
    fit_detector("ks", ref, tmp_path / "ks", feature_names=FEATURES, progress=False)
    mport = free_port()
    log = (tmp_path / "consume.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "inferwatch.cli",
            "detector",
            "consume",
            "--detector",
            str(tmp_path / "ks"),
            "--bootstrap",
            kafka_bootstrap,
            "--topic",
            topic,
            "--group",
            unique_name("g"),
            "--host",
            "127.0.0.1",
            "--metrics-port",
            str(mport),
            "--batch-size",
            "10",
            "--state-dir",
            str(tmp_path / "state"),
        ],
        env={**os.environ, "INFERWATCH_HOME": str(tmp_path)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        want = 'inferwatch_consumer_records_total{outcome="detected"} 25.0'
        deadline = time.monotonic() + 60
        text = ""
        while want not in text:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "consume.log").read_text()
            time.sleep(0.3)
            try:
                text = httpx.get(f"http://127.0.0.1:{mport}/metrics").text
            except httpx.TransportError:
                text = ""
        assert "seldon_metric_drift_p_val" in text  # two windows of 10 closed
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        log.close()
    assert code == 0, (tmp_path / "consume.log").read_text()


class RaisingDetector:
    """alibi-detect raising out of ``predict`` (an input it cannot handle): nothing in the loop catches it."""

    def predict(self, x: Any) -> Any:
        raise ValueError("Input contains NaN, infinity or a value too large for dtype('float32')")


def test_a_consumer_thread_killed_out_of_the_loop_makes_detector_consume_not_live(
    tmp_path: Path, kafka_bootstrap: str, unique_name: Any
) -> None:
    topic = unique_name("records-dies")
    sink = open_sink(f"kafka://{kafka_bootstrap}?topic={topic}")
    sink.write(_records(10, shift=0.0))  # fewer than a window: predict is not called yet
    core = _core(tmp_path)  # windows of 20: the first closed window calls predict
    admin = TestClient(create_detector_admin_app(core))
    consumer = _consumer(kafka_bootstrap, topic, unique_name("g"))
    thread = RecordDetector(core).in_background(consumer, stall_seconds=30)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while (ready := admin.get("/health/ready")).status_code != 200:  # joined the group, polling
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.1)
        assert ready.json()["checks"]["consumer-polling"]["assigned_partitions"] >= 1
        assert admin.get("/health/live").status_code == 200
        core.loaded.detector = RaisingDetector()
        sink.write(_records(15, shift=0.0))  # the window closes: predict raises out of the loop
        while (live := admin.get("/health/live")).status_code != 503:
            assert time.monotonic() < deadline, live.text
            time.sleep(0.1)
    finally:
        thread.stop()
        consumer.close()
        sink.close()
    assert "ValueError: Input contains NaN" in live.json()["problems"][0]
    assert admin.get("/health/ready").status_code == 503
