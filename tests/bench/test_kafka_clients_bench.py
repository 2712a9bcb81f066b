"""The Kafka client benchmark's summary, and the logger benchmark's confluent-kafka variant (no broker)."""

from __future__ import annotations

from pathlib import Path

import orjson

from bench.kafka_clients.run import Sample, encode_cost, records, summary
from bench.logger import report
from bench.logger.variants import KAFKA_CLIENTS, LOGGER_VARIANTS, VARIANTS, logger_sinks
from inferwatch.sinks import open_sink
from inferwatch.sinks.kafka import KafkaSink
from tests.bench.test_logger_stats import _m


def test_summary_gives_medians_and_ratios() -> None:
    samples = [
        *(Sample("kafka-python", "gzip", 100, wall, cpu) for wall, cpu in [(30.0, 28.0), (32.0, 29.0), (90.0, 80.0)]),
        *(Sample("confluent", "gzip", 100, wall, cpu) for wall, cpu in [(10.0, 9.0), (11.0, 8.0), (12.0, 10.0)]),
        Sample("kafka-python", "none", 100, 100.0, 90.0),  # no confluent "none": no ratio for it
    ]
    text = summary(samples, encode_us=4.0)
    assert "kafka-python  gzip           3        32.0       29.0" in text
    assert "confluent     gzip           3        11.0        9.0" in text
    assert "ratio kafka-python / confluent, gzip: wall 2.9x, cpu 3.2x; client cpu alone 25.0 / 5.0 us = 5.0x" in text
    assert "ratio kafka-python / confluent, none" not in text
    assert "sink encoding, same for both clients: 4.0 cpu us/msg" in text


def test_benchmark_records_are_distinct_prediction_records() -> None:
    recs = records(3)
    assert [r.id for r in recs] == ["bench-0000000", "bench-0000001", "bench-0000002"]
    assert orjson.loads(recs[0].to_json())["id"] == "bench-0000000"
    assert encode_cost(recs) > 0


def test_confluent_variant_is_the_kafka_es_variant_on_confluent(tmp_path: Path) -> None:
    assert {"logger-kafka-es", "logger-kafka-es-confluent"} <= set(LOGGER_VARIANTS) & set(VARIANTS)
    uris = {v: logger_sinks(v, tmp_path, "127.0.0.1:1", "127.0.0.1:2") for v in KAFKA_CLIENTS}
    assert uris["logger-kafka-es"][0].endswith("client=kafka-python")
    assert uris["logger-kafka-es-confluent"][0].endswith("client=confluent")
    assert uris["logger-kafka-es"][1:] == uris["logger-kafka-es-confluent"][1:] == ["elasticsearch://127.0.0.1:2"]
    sink = open_sink(uris["logger-kafka-es-confluent"][0])
    assert isinstance(sink, KafkaSink) and sink.config.client == "confluent"


def test_sinks_on_targets_apply_to_the_confluent_variant() -> None:
    ms = []
    for rep in range(3):
        ms.append(_m("direct", rep, 1.0, 2.0))
        ms.append(_m("logger-off", rep, 1.15, 2.5, proxy_cpu_s=0.2, logged=0, dropped=0))
        ms.append(_m("logger-kafka-es-confluent", rep, 1.2, 2.6, proxy_cpu_s=0.1, logged=1000, dropped=0))
        ms.append(_m("logger-kafka-es", rep, 1.5, 3.0, proxy_cpu_s=0.2, logged=1000, dropped=0))
    rows = report.aggregate(ms)
    assert [r.variant for r in rows] == ["direct", "logger-off", "logger-kafka-es", "logger-kafka-es-confluent"]
    got = {(v.target, v.scope.split()[-1]): v for v in report.verdicts(rows)}
    assert got[("|p99 sinks on - off| / p99 off", "logger-kafka-es-confluent")].status == "PASS"  # +4 %
    assert got[("logged req/s per logger core", "logger-kafka-es-confluent")].status == "PASS"  # 10,000
    assert got[("logged req/s per logger core", "logger-kafka-es")].status == "PASS"  # 5,000
