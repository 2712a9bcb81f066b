"""Sink URI options declared once per sink (``OptionTable``): parsing, validation, defaults and the help listing
all come from the same table."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferwatch.errors import ConfigError
from inferwatch.logger.cli import DESCRIPTION
from inferwatch.sinks import OPTION_TABLES, options_help
from inferwatch.sinks.base import SinkURI
from inferwatch.sinks.kafka import KafkaSinkConfig
from inferwatch.sinks.kafka_options import DEFAULT_RESULTS_TOPIC, KafkaOptions
from inferwatch.sinks.options import Choice, File, Flag, Integer, Number, OptionalText, OptionTable, Text
from inferwatch.sinks.search import SearchSinkConfig
from inferwatch.sinks.search_options import SearchOptions


class DemoOptions(OptionTable):
    usage = "demo://HOST:PORT"

    name = Text("x", "a name")
    size = Integer(10, "how many", minimum=1)
    wait = Number(0.5, "seconds to wait", minimum=0.1)
    fast = Flag(False, "go fast")
    mode = Choice("a", ("a", "b"), "which mode")
    token = OptionalText("a token")
    ca = File("a CA bundle")


def parse(query: str) -> DemoOptions:
    return DemoOptions.parse(SinkURI.parse(f"demo://h:1?{query}"))


def test_absent_and_empty_options_take_the_table_defaults() -> None:
    for opts in (parse(""), DemoOptions.parse(SinkURI("demo://h:1?name=", "demo", "h:1", "", {"name": ""}))):
        assert (opts.name, opts.size, opts.wait, opts.fast, opts.mode, opts.token, opts.ca) == (
            "x",
            10,
            0.5,
            False,
            "a",
            None,
            None,
        )
        assert not opts.is_set(DemoOptions.name)


def test_given_options_are_parsed_to_their_types(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("exists")
    opts = parse(f"name=y&size=3&wait=2.5&fast=YES&mode=B&token=t&ca={ca}")
    assert (opts.name, opts.size, opts.wait, opts.fast, opts.mode, opts.token, opts.ca) == (
        "y",
        3,
        2.5,
        True,
        "b",
        "t",
        str(ca),
    )
    assert opts.is_set(DemoOptions.size) and opts.is_set(DemoOptions.fast)


def test_an_unknown_option_names_the_scheme_the_key_and_the_valid_keys() -> None:
    with pytest.raises(ConfigError) as err:
        parse("sise=3")
    assert str(err.value) == "demo:// sink: unknown option(s) sise; known: ca, fast, mode, name, size, token, wait"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("size=many", "demo:// option size='many' is not an integer"),
        ("size=0", "demo:// option size=0 must be >= 1"),
        ("wait=soon", "demo:// option wait='soon' is not a number"),
        ("wait=0.01", "demo:// option wait=0.01 must be >= 0.1"),
        ("fast=maybe", "demo:// option fast='maybe' must be true or false"),
        ("mode=c", "demo:// option mode='c': use one of a, b"),
        ("ca=/nonexistent/ca.pem", "demo:// option ca: no such file '/nonexistent/ca.pem'"),
    ],
)
def test_a_wrong_value_names_the_scheme_the_key_and_the_fix(query: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(query)
    assert str(err.value) == message


def test_the_help_listing_is_generated_from_the_table() -> None:
    lines = DemoOptions.help_lines()
    assert [line.split()[0] for line in lines] == [o.name for o in DemoOptions.options()]
    assert lines == [
        "name   a name (default x)",
        "size   how many (integer >= 1, default 10)",
        "wait   seconds to wait (number >= 0.1, default 0.5)",
        "fast   go fast (true|false, default false)",
        "mode   which mode (a|b, default a)",
        "token  a token",
        "ca     a CA bundle (file)",
    ]


def test_an_option_name_may_not_shadow_the_table_itself() -> None:
    with pytest.raises(TypeError, match="parse"):

        class Broken(OptionTable):
            parse = Text("x", "shadows OptionTable.parse")  # type: ignore[assignment]


# --- the sinks' own tables ------------------------------------------------------------------------------


@pytest.mark.parametrize("table", OPTION_TABLES)
def test_every_option_of_every_sink_is_in_the_help_with_its_default(table: type[OptionTable]) -> None:
    listing = options_help()
    assert f"{table.usage}?OPTION=VALUE&..." in listing
    for option, line in zip(table.options(), table.help_lines(), strict=True):
        assert line.split()[0] == option.name and line in listing
        default = option.default
        if isinstance(default, bool):
            default = str(default).lower()
        elif isinstance(default, float):
            default = f"{default:g}"
        assert (f"default {default})" in line) == (option.default is not None), line


def test_the_logger_help_lists_the_generated_sink_options() -> None:
    assert options_help() in DESCRIPTION


@pytest.mark.parametrize(
    ("uri", "key"),
    [("kafka://h:1?compresion=lz4", "compresion"), ("elasticsearch://h:1?idx=x", "idx")],
)
def test_sinks_refuse_unknown_options_listing_their_table(uri: str, key: str) -> None:
    table = KafkaOptions if uri.startswith("kafka") else SearchOptions
    with pytest.raises(ConfigError) as err:
        table.parse(SinkURI.parse(uri))
    scheme = uri.split(":")[0]
    known = ", ".join(sorted(o.name for o in table.options()))
    assert str(err.value) == f"{scheme}:// sink: unknown option(s) {key}; known: {known}"


def test_sink_configs_default_to_their_tables() -> None:
    assert KafkaSinkConfig.from_uri(SinkURI.parse("kafka://h:1")) == KafkaSinkConfig(["h:1"])
    assert SearchSinkConfig.from_uri(SinkURI.parse("opensearch://h:1")) == SearchSinkConfig("opensearch", ["h:1"])


def test_kafka_results_topic_follows_topic_only_when_it_is_given() -> None:
    def results_topic(query: str) -> str:
        return KafkaSinkConfig.from_uri(SinkURI.parse(f"kafka://h:1?{query}")).results_topic

    assert results_topic("") == DEFAULT_RESULTS_TOPIC
    assert results_topic("topic=results.{model}") == "results.{model}"
    assert results_topic("topic=a&results_topic=b") == "b"
