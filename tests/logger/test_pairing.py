"""The CloudEvents pairing buffer is bounded by bytes as well as by time; what it sheds is written, never dropped."""

from __future__ import annotations

import time

import httpx
from prometheus_client import CollectorRegistry

from inferwatch.capture import Body, Exchange
from inferwatch.logger.metrics import LoggerMetrics
from inferwatch.logger.settings import LoggerSettings
from inferwatch.pairing import Half, Pairer

MIB = 1 << 20


def _half(kind: str, rid: str, size: int) -> Half:
    template = Exchange(request_id=rid, received_at=time.time(), source="cloudevents", model_name="m")
    return Half(kind, Body(raw=b"x" * size, content_type="application/json", size=size), time.time(), template)


def test_unpaired_halves_past_max_bytes_go_out_oldest_first_as_partial_records() -> None:
    """200 unpaired 1 MiB halves held +185 MB until their TTL; now at most max_bytes wait."""
    emitted: list[Exchange] = []
    metrics = LoggerMetrics(registry := CollectorRegistry())
    pairer = Pairer(3600, emitted.append, metrics.pairing, max_bytes=4 * MIB)
    for i in range(200):
        pairer.add(_half("request", f"r{i}", MIB))
        assert pairer.pending_bytes <= 4 * MIB
    assert len(pairer) == 4 and len(emitted) == 196
    assert [e.request_id for e in emitted[:3]] == ["r0", "r1", "r2"] and all(e.partial for e in emitted)
    assert emitted[0].request is not None and len(emitted[0].request.raw) == MIB  # the body is kept
    assert registry.get_sample_value("inferwatch_logger_pairing_overflow_total", {"kind": "request"}) == 196
    assert registry.get_sample_value("inferwatch_logger_pairing_bytes") == 4 * MIB
    pairer.add(_half("response", "r199", MIB))  # a waiting half still pairs
    assert not emitted[-1].partial and emitted[-1].request_id == "r199"
    assert pairer.pending_bytes == 3 * MIB and pairer.flush() == 3 and pairer.pending_bytes == 0


def test_a_half_larger_than_the_bound_is_written_at_once() -> None:
    emitted: list[Exchange] = []
    pairer = Pairer(3600, emitted.append, LoggerMetrics(CollectorRegistry()).pairing, max_bytes=10)
    pairer.add(_half("response", "big", 11))
    assert [(e.request_id, e.partial) for e in emitted] == [("big", True)] and len(pairer) == 0


def test_the_bound_defaults_to_64_payloads_and_is_a_setting() -> None:
    assert LoggerSettings().pairing_bytes == 64 * MIB
    assert LoggerSettings(max_payload_bytes=1000).pairing_bytes == 64_000
    assert LoggerSettings(pairing_max_bytes=5).pairing_bytes == 5


def test_the_receiver_applies_the_bound(run_logger) -> None:
    ce = {
        "ce-specversion": "1.0",
        "ce-source": "seldon",
        "ce-type": "io.seldon.serving.inference.request",
        "content-type": "application/json",
    }
    with run_logger(pairing_max_bytes=250) as lg:  # room for two halves
        for i in range(3):
            body = b'{"data": {"ndarray": [[%d, 2, 3, 4]]}, "pad": "' % i + b"x" * 60 + b'"}'
            r = httpx.post(f"{lg.url}/", content=body, headers={**ce, "ce-id": f"e{i}", "ce-requestid": f"q{i}"})
            assert r.status_code == 200, r.text
        rec = lg.wait_record("q0")  # shed long before its 30 s TTL
        assert rec.response is None and "partial" in rec.flags
        assert lg.metric("inferwatch_logger_pairing_overflow_total", kind="request") == 1
