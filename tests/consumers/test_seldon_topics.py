"""Seldon Core v2's dataflow topics through ``inferwatch consume index`` run as users run it (the command line, a
topic pattern, OpenSearch): protobuf (plain and schema-registry framed) and JSON values under real
``x-request-id`` headers and composite keys become one paired record each, every tensor decoded; the errors topic
becomes upstream-error records; poison goes to the dead-letter topic; /metrics and /health answer."""

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

from inferwatch.records import Flag
from inferwatch.stores import RecordQuery, open_store
from tests.consumers.kafka_data import create_topic, produce, read_all
from tests.servers import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.opensearch]
V2_DATA = Path(__file__).resolve().parents[1] / "testdata" / "protocols" / "seldon_v2"


def test_seldon_v2_topics_are_paired_and_indexed_into_opensearch(
    tmp_path: Path, kafka_bootstrap: str, opensearch_url: str, unique_name: Any
) -> None:
    prefix = unique_name("sv2").replace("-", "")  # <prefix>.<namespace>.model.<name>.inputs|outputs
    ns = "prod"
    topics = {
        "in": f"{prefix}.{ns}.model.iris.inputs",
        "out": f"{prefix}.{ns}.model.iris.outputs",
        "pin": f"{prefix}.{ns}.pipeline.flow.inputs",
        "pout": f"{prefix}.{ns}.pipeline.flow.outputs",
        "err": f"{prefix}.{ns}.errors.errors",
    }
    for t in topics.values():
        create_topic(kafka_bootstrap, t, 2)
    request, framed = (V2_DATA / "request_raw.bin").read_bytes(), (V2_DATA / "request_framed.bin").read_bytes()
    response, response_json = (V2_DATA / "response_raw.bin").read_bytes(), (V2_DATA / "response.json").read_bytes()
    json_request = json.dumps(
        {"inputs": [{"name": "predict", "datatype": "FP32", "shape": [1, 4], "data": [5.9, 3.0, 5.1, 1.8]}]}
    ).encode()

    def rid(i: int) -> list[tuple[str, bytes]]:
        return [("x-request-id", f"sv2-{i}".encode()), ("pipeline", b"flow")]

    json_in = [("seldon-infer-type", b"json/inferModelRequest")]
    json_out = [("seldon-infer-type", b"json/inferModelResponse")]
    for i in range(6):  # outputs first for half of them: any order pairs
        value_in = framed if i % 2 else request
        step = [(rid(i), value_in, None)], [(rid(i), response, None)]
        pipe = [(rid(i) + json_in, json_request, None)], [(rid(i) + json_out, response_json, None)]
        first, second = (step[1], step[0]) if i % 2 else step
        produce(kafka_bootstrap, topics["in" if first is step[0] else "out"], first, key=f"flow:{i}:x".encode())
        produce(kafka_bootstrap, topics["out" if first is step[0] else "in"], second, key=f"flow:{i}:x".encode())
        produce(kafka_bootstrap, topics["pin"], pipe[0], key=f"flow:{i}".encode())
        produce(kafka_bootstrap, topics["pout"], pipe[1], key=f"flow:{i}".encode())
    produce(kafka_bootstrap, topics["err"], [([*rid(99), ("seldon-pipeline-errors", b"iris")], b"iris: OOMKilled", 0)])
    produce(kafka_bootstrap, topics["in"], [(rid(100), b"\x0a\xff\xff\xff", 0), ([], request, 1)])  # poison

    host = opensearch_url.removeprefix("http://")
    index = unique_name("sv2idx")
    uri = f"opensearch://{host}?index={index}-{{deployment}}"
    dlq, port = unique_name("sv2dlq"), free_port()
    log_path = tmp_path / "indexer.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "inferwatch.cli", "consume", "index", "--bootstrap", kafka_bootstrap,
             "--pattern", rf"{prefix}\..*", "--group", unique_name("sv2g"), "--sink", uri, "--dlq-topic", dlq,
             "--metrics-port", str(port), "--host", "127.0.0.1", "--log-level", "INFO"],
            stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ},
        )  # fmt: skip
    try:
        store = open_store(uri)
        try:
            deadline = time.monotonic() + 90
            while len(found := store.query(RecordQuery(limit=100))) < 13:
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, f"{len(found)} records; log:\n{log_path.read_text()[-3000:]}"
                time.sleep(0.5)
        finally:
            store.close()
        health = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=10)
        assert health.status_code == 200, health.text
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert "inferwatch_consumer_dead_lettered_total{group=" in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log_path.read_text()[-3000:]

    records = {r.id: r for r in found}
    for i in range(6):
        step, pipeline = records[f"sv2-{i}@iris"], records[f"sv2-{i}"]
        assert not step.has(Flag.PARTIAL) and not pipeline.has(Flag.PARTIAL), (step.flags, pipeline.flags)
        assert step.tags["request_id"] == f"sv2-{i}" and step.deployment == "flow" and step.namespace == ns
        assert [sorted(x["request"]) for x in step.instances] == [["note", *(f"predict_{k}" for k in range(4))]] * 2
        assert step.instances[1]["response"] == {
            "predict": 2,
            "predict_proba_0": 0.0,
            "predict_proba_1": 0.1,
            "predict_proba_2": 0.9,
        }
        assert pipeline.instances[0]["request"] == pytest.approx(
            {"predict_0": 5.9, "predict_1": 3.0, "predict_2": 5.1, "predict_3": 1.8}
        )
    error = records["sv2-99@iris-error"]
    assert error.has(Flag.UPSTREAM_ERROR) and error.error == "iris: OOMKilled"
    letters = read_all(kafka_bootstrap, dlq, 2)
    assert sorted(dict(m.headers)["inferwatch-dlq-reason"].decode() for m in letters) == [
        "bad_protobuf",
        "no_request_id",
    ]
