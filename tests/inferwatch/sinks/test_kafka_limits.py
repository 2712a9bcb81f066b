"""The largest message a topic takes: learned from the real broker with the admin API, cached, the smaller of the
topic's and the producer's limit."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from inferwatch.sinks.kafka_limits import MESSAGE_OVERHEAD, AdminLookup, MessageLimits, message_size
from tests.inferwatch.sinks.test_kafka_sink import create_topic


def test_the_smaller_limit_wins_and_is_asked_once_per_ttl() -> None:
    asked: list[str] = []
    now = [0.0]
    answers = {"small": 65536, "big": 10 << 20}

    def lookup(topic: str) -> int | None:
        asked.append(topic)
        return answers.get(topic)

    limits = MessageLimits(lookup, producer_max=1 << 20, ttl=60, clock=lambda: now[0])
    mib = 1 << 20
    got = [limits.limit(t) for t in ("small", "big", "unknown", "small", "big")]
    assert got == [65536, mib, mib, 65536, mib]
    assert asked == ["small", "big", "unknown"]
    limits.forget("small")
    answers["small"] = 32768  # the topic was changed
    assert limits.limit("small") == 32768
    now[0] = 61.0
    limits.limit("big")
    assert asked == ["small", "big", "unknown", "small", "big"]


def test_message_size_counts_key_value_headers_and_overhead() -> None:
    assert message_size(b"k", b"vv", [("type", b"x")]) == 1 + 2 + 5 + MESSAGE_OVERHEAD


@pytest.mark.kafka
def test_lookup_reads_the_topic_then_the_broker_default(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("lim")
    create_topic(kafka_bootstrap, topic, 65536)
    lookup = AdminLookup({"bootstrap_servers": [kafka_bootstrap]})
    try:
        assert lookup(topic) == 65536
        assert lookup(unique_name("absent")) == 1048588  # auto-creation gives the broker's message.max.bytes
    finally:
        lookup.close()


def test_an_unreachable_cluster_leaves_the_producer_limit(caplog: pytest.LogCaptureFixture) -> None:
    lookup = AdminLookup({"bootstrap_servers": ["127.0.0.1:1"], "bootstrap_timeout_ms": 500})
    assert lookup("t") is None and lookup("t") is None
    assert caplog.text.count("using max_request_size") == 1
    assert MessageLimits(lookup, producer_max=4096).limit("t") == 4096
