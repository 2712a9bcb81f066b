"""The soak benchmark: its bookkeeping, and a short real run (logger -> real Kafka + Elasticsearch)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from bench.soak import run, verify
from bench.soak.rss import RssSampler


def test_check_counts_once_missing_and_doubled() -> None:
    found = Counter({"a": 1, "b": 2, "x": 1})
    c = verify.check("kafka", ["a", "b", "c"], found, "at least once")
    assert (c.acked, c.once, c.missing, c.duplicated, c.lost) == (3, 1, 1, 1, True)
    assert "missing      1" in c.line()


def test_rss_sampler_measures_growth_from_the_baseline() -> None:
    sampler = RssSampler({"me": os.getpid()}, interval=0.05)
    sampler.start()
    sampler.mark()
    ballast = bytearray(64 * 2**20)  # 64 MB, touched so it is resident
    ballast[::4096] = b"x" * len(ballast[::4096])
    memory = sampler.stop()
    assert memory["me"]["growth"] > 50 * 2**20 and memory["me"]["peak"] >= memory["me"]["last"]
    del ballast


def test_verdicts_say_miss_for_a_lost_record_and_for_growth() -> None:
    result = {
        "checks": [{"sink": "elasticsearch", "missing": 0, "acked": 10}, {"sink": "kafka", "missing": 2, "acked": 10}],
        "rss": {"logger": {"growth": 80 * 2**20}},
    }
    assert [met for _, _, met in run.verdicts(result)] == [True, False, False]


@pytest.mark.kafka
@pytest.mark.elasticsearch
@pytest.mark.slow
def test_a_short_soak_finds_every_acknowledged_request(
    kafka_bootstrap: str, elasticsearch_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    es = elasticsearch_url.removeprefix("http://")
    output = tmp_path / "soak.json"
    argv = ["--kafka", kafka_bootstrap, "--elasticsearch", es, "--rate", "40", "--duration", "5"]
    argv += ["--warmup", "1", "--workdir", str(tmp_path / "work"), "--output", str(output), "--quiet"]
    assert run.main(argv) == 0
    printed = capsys.readouterr().out
    result = json.loads(output.read_text())
    checks = {c["sink"]: c for c in result["checks"]}
    assert result["acked_total"] >= 200 and result["errors"] == {}
    assert checks["elasticsearch"]["once"] == checks["elasticsearch"]["acked"] == result["acked_total"]
    assert checks["kafka"]["missing"] == 0 and checks["kafka"]["acked"] == result["acked_total"]
    assert "PASS  nothing lost in elasticsearch" in printed and "PASS  nothing lost in kafka" in printed
    assert set(result["rss"]) == {"logger", "upstream"}
