"""``inferwatch consume``'s command line: flags as the issue names them, settings from the environment, TLS/SASL
options mapped onto the Kafka client's names as the ``kafka://`` sink maps them, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferwatch.cli import build_parser, main
from inferwatch.consumers.settings import IndexSettings, ReplaySettings
from inferwatch.errors import ConfigError
from inferwatch.settings import from_cli
from inferwatch.sinks.base import SinkURI
from inferwatch.sinks.kafka_options import KafkaOptions


def _index_args(*extra: str) -> object:
    return build_parser("consume").parse_args(
        ["consume", "index", "--bootstrap", "b1:9092,b2:9092", "--sink", "sqlite:///x.db", *extra]
    )


def test_index_flags_are_the_documented_ones() -> None:
    args = _index_args(
        "--topic", "t", "--group", "g", "--sink", "elasticsearch://es:9200", "--dlq-topic", "dlq",
        "--format", "seldon-v2", "--metrics-port", "9999",
    )  # fmt: skip
    settings = from_cli(IndexSettings, args)  # type: ignore[arg-type]
    assert (settings.topic, settings.group, settings.dlq_topic, settings.format, settings.metrics_port) == (
        "t",
        "g",
        "dlq",
        "seldon-v2",
        9999,
    )
    assert settings.sink == ["sqlite:///x.db", "elasticsearch://es:9200"]
    assert settings.client_config()["bootstrap_servers"] == ["b1:9092", "b2:9092"]


def test_tls_and_sasl_map_as_on_the_kafka_sink(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INFERWATCH_CONSUME_SASL_PASSWORD", "from-env")
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    args = _index_args(
        "--topic", "t", "--security-protocol", "SASL_SSL", "--sasl-mechanism", "SCRAM-SHA-512",
        "--sasl-username", "indexer", "--ssl-cafile", str(ca),
    )  # fmt: skip
    config = from_cli(IndexSettings, args).client_config()  # type: ignore[arg-type]
    sink = KafkaOptions.parse(
        SinkURI.parse(
            "kafka://b:9092?security_protocol=SASL_SSL&sasl_mechanism=SCRAM-SHA-512&sasl_username=indexer"
            f"&sasl_password=from-env&ssl_cafile={ca}"
        )
    ).security()
    assert {k: v for k, v in config.items() if k != "bootstrap_servers"} == sink
    assert config["sasl_plain_password"] == "from-env" and config["sasl_plain_username"] == "indexer"


@pytest.mark.parametrize(
    ("extra", "message"),
    [((), "exactly one of --topic and --pattern"), (("--topic", "t", "--pattern", "x.*"), "exactly one of")],
)
def test_index_needs_one_source(extra: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_cli(IndexSettings, _index_args(*extra))  # type: ignore[arg-type]


def test_replay_needs_one_start() -> None:
    args = build_parser("consume").parse_args(
        ["consume", "replay", "--bootstrap", "b:9092", "--topic", "t", "--sink", "sqlite:///x.db"]
    )
    with pytest.raises(ConfigError, match="exactly one of --from-offset and --from-time"):
        from_cli(ReplaySettings, args)


def test_help_names_every_flag_of_the_issue(capsys: pytest.CaptureFixture[str]) -> None:
    for action, flags in {
        "index": ("--bootstrap", "--topic", "--pattern", "--group", "--sink", "--dlq-topic", "--format",
                  "--metrics-port"),
        "replay": ("--bootstrap", "--topic", "--from-offset", "--from-time", "--until", "--sink"),
    }.items():  # fmt: skip
        with pytest.raises(SystemExit):
            main(["consume", action, "--help"])
        out = capsys.readouterr().out
        assert all(f in out for f in flags), [f for f in flags if f not in out]
        assert "inferwatch consume index --bootstrap" in out  # examples


def test_a_bad_sink_uri_or_missing_file_is_a_clear_error_before_connecting(caplog: pytest.LogCaptureFixture) -> None:
    code = main(["consume", "index", "--bootstrap", "127.0.0.1:1", "--topic", "t", "--sink", "nosuch://x"])
    assert code == 2
    assert "unknown sink 'nosuch://x'" in caplog.text
    code = main(["consume", "replay", "--bootstrap", "127.0.0.1:1", "--topic", "t", "--from-offset", "0",
                 "--sink", "sqlite:///x.db", "--ssl-cafile", "/nonexistent/ca.pem"])  # fmt: skip
    assert code == 2
    assert "ssl_cafile: Value error, no such file '/nonexistent/ca.pem'" in caplog.text
