"""The ``inferwatch`` command line: one subcommand per service or tool.

Subcommands live next to the code they drive and are imported lazily, so ``inferwatch --help`` is
fast and a component's optional dependencies are only needed when it is used. A subcommand module
exposes ``HELP`` (one line), ``DESCRIPTION`` (the ``--help`` text), ``add_arguments(parser)`` and
``run(args) -> int``. Adding one is one row in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from inferwatch import __version__
from inferwatch.errors import ConfigError, InferwatchError
from inferwatch.settings import common

COMMANDS: dict[str, str] = {
    "logger": "inferwatch.logger.cli",
    "audit": "inferwatch.audit",
    "demo": "inferwatch.demo.cli",
    "devstack": "devstack.cli",  # development tooling: in a source checkout only (see DEV_ONLY)
    "detector": "inferwatch.detectors.cli",
    "explainer": "inferwatch.explainers.cli",
    "consume": "inferwatch.consumers.cli",
}


#: Commands whose code is development tooling, which the package does not ship: where it cannot be imported
#: (an installed copy), the command says where to find it instead of breaking ``inferwatch --help``.
DEV_ONLY = frozenset({"devstack"})


class CommandModule(Protocol):
    HELP: str
    DESCRIPTION: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


class _NotInstalled:
    """Stands in for a ``DEV_ONLY`` command whose module is not importable."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.HELP = "(development tooling: only in a source checkout of inferwatch)"
        self.DESCRIPTION = self.HELP

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def run(self, args: argparse.Namespace) -> int:
        raise ConfigError(
            f"'inferwatch {self.name}' is development tooling and is not installed with the package: run it "
            "from a source checkout of inferwatch after 'make test' or 'make devstack-up' has set up .venv"
        )


def _load(name: str) -> CommandModule:
    try:
        return cast(CommandModule, importlib.import_module(COMMANDS[name]))
    except ModuleNotFoundError as e:
        if name in DEV_ONLY and e.name is not None and COMMANDS[name].startswith(e.name):
            return _NotInstalled(name)
        raise


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser; with ``only``, just that subcommand's module is imported."""
    parser = argparse.ArgumentParser(
        prog="inferwatch",
        description="Monitoring and explainability for deployed ML models. "
        "Run 'inferwatch demo' for a one-command tour, or 'inferwatch COMMAND --help'.",
    )
    parser.add_argument("--version", action="version", version=f"inferwatch {__version__}")
    _add_log_level(parser, default=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if only is not None and name != only:
            sub.add_parser(name)
            continue
        mod = _load(name)
        p = sub.add_parser(
            name,
            help=mod.HELP,
            description=mod.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        _add_log_level_below(p)  # accepted after the subcommand (and its action) too
    return parser


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _add_log_level(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=default,
        help="inferwatch's own log level; other libraries log warnings and errors only, unless DEBUG "
        "(default: INFO; env INFERWATCH_LOG_LEVEL)",
    )


def _add_log_level_below(parser: argparse.ArgumentParser) -> None:
    _add_log_level(parser, default=argparse.SUPPRESS)  # SUPPRESS: an upper level's value is kept if not given here
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                _add_log_level_below(child)


def log_level(args: argparse.Namespace) -> str:
    """The level asked for: ``--log-level`` (before or after the subcommand), else ``INFERWATCH_LOG_LEVEL``."""
    chosen = getattr(args, "log_level", None) or common().log_level
    level = str(chosen).upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"INFERWATCH_LOG_LEVEL={chosen!r}: choose one of {', '.join(LOG_LEVELS)}")
    return level


def configure_logging(level: str) -> None:
    """inferwatch's loggers at ``level``; third-party libraries (kafka, elastic_transport, alibi…) at WARNING so
    they do not bury the project's own lines, except at DEBUG, where everything is shown."""
    logging.basicConfig(level=logging.DEBUG if level == "DEBUG" else logging.WARNING, format=_LOG_FORMAT)
    logging.getLogger("inferwatch").setLevel(level)
    if level != "DEBUG":
        logging.getLogger("transformers").setLevel(logging.ERROR)  # "None of PyTorch ... found" via alibi


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``inferwatch`` console script."""
    if argv is None:  # a process of its own: TensorFlow may be hidden from it when its kind does not use it
        from inferwatch import tf_env

        tf_env.own_process()
    argv = list(sys.argv[1:] if argv is None else argv)
    only = next((a for a in argv if a in COMMANDS), None)
    if only is None and not any(a in ("-h", "--help", "--version") for a in argv):
        build_parser().print_help()
        return 2
    args = build_parser(only).parse_args(argv)
    try:
        configure_logging(log_level(args))
        return _load(args.command).run(args)
    except ConfigError as e:
        logging.getLogger("inferwatch").error("%s", e.message)
        return 2
    except InferwatchError as e:
        logging.getLogger("inferwatch").error("%s", e.message)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
