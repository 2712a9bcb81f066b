"""The ``inferwatch`` entry point: log level before or after the subcommand, from the environment, and
third-party libraries kept quiet unless DEBUG."""

from __future__ import annotations

import os
import subprocess
import sys
from unittest import mock

import pytest

from inferwatch.cli import build_parser, log_level
from inferwatch.errors import ConfigError


@pytest.mark.parametrize(
    "argv",
    [["--log-level", "debug", "audit"], ["audit", "--log-level", "DEBUG"], ["audit", "--log-level=debug"]],
)
def test_log_level_before_or_after_the_subcommand(argv: list[str]) -> None:
    assert log_level(build_parser("audit").parse_args(argv)) == "DEBUG"


def test_log_level_from_the_environment_unless_a_flag_says_otherwise() -> None:
    with mock.patch.dict(os.environ, {"INFERWATCH_LOG_LEVEL": "warning"}):
        assert log_level(build_parser("audit").parse_args(["audit"])) == "WARNING"
        assert log_level(build_parser("audit").parse_args(["audit", "--log-level", "error"])) == "ERROR"
    with mock.patch.dict(os.environ, {"INFERWATCH_LOG_LEVEL": "chatty"}), pytest.raises(ConfigError, match="chatty"):
        log_level(build_parser("audit").parse_args(["audit"]))


def test_an_unknown_level_is_refused_by_the_parser() -> None:
    with pytest.raises(SystemExit):
        build_parser("audit").parse_args(["audit", "--log-level", "loud"])


PROBE = """
import logging, sys
from inferwatch.cli import configure_logging
configure_logging(sys.argv[1])
for name in ("kafka.coordinator", "elastic_transport.transport", "alibi_detect.saving", "inferwatch.logger"):
    logging.getLogger(name).info("info from %s", name)
    logging.getLogger(name).warning("warning from %s", name)
"""


def _logged(level: str) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE, level], capture_output=True, text=True, check=True)
    return done.stderr


def test_third_party_info_is_quiet_and_ours_is_not() -> None:
    out = _logged("INFO")
    assert "info from inferwatch.logger" in out
    assert [line for line in out.splitlines() if "info from" in line and "inferwatch" not in line] == []
    assert "warning from kafka.coordinator" in out  # warnings and errors still reach the operator


def test_debug_shows_everything() -> None:
    out = _logged("DEBUG")
    assert "info from kafka.coordinator" in out and "info from elastic_transport.transport" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["fit", "--kind", "ks", "--reference", "r.csv", "--out", "d"],
        ["serve", "--detector", "d"],
        ["consume", "--detector", "d", "--bootstrap", "b:9092", "--topic", "t"],
    ],
    ids=["fit", "serve", "consume"],
)
def test_log_level_after_a_nested_action(argv: list[str]) -> None:
    args = build_parser("detector").parse_args(["detector", *argv, "--log-level", "warning"])
    assert log_level(args) == "WARNING"
