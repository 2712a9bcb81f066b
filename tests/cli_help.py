"""Reading ``inferwatch … --help`` back, to check the flags it shows against a settings class.

The flags of the service commands are derived from their settings (``inferwatch.cli_flags``); these checks read
the help users see, independently of how it was made: each field has its ``--flag``, and the default and the
environment variable the help shows are the field's own.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Collection
from pathlib import Path
from unittest import mock

from pydantic_settings import BaseSettings

from inferwatch.cli import main

UNITS = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def help_text(argv: list[str]) -> str:
    """What ``inferwatch ARGV --help`` prints, wide enough that no help line is wrapped."""
    out = io.StringIO()
    with mock.patch.dict(os.environ, {"COLUMNS": "1000"}), contextlib.redirect_stdout(out):
        try:
            main([*argv, "--help"])
        except SystemExit as e:
            assert e.code == 0
    return out.getvalue()


def help_entries(argv: list[str]) -> dict[str, str]:
    """``--flag`` -> its help text (whitespace collapsed), for every option of ``inferwatch ARGV --help``."""
    parts: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in help_text(argv).splitlines():
        if re.match(r"^  -", line):  # "  --flag METAVAR  help..." (the help may start on the next line)
            invocation, _, text = line.strip().partition("  ")
            current = [text]
            for flag in re.findall(r"--[a-z][a-z0-9-]*", invocation):
                parts[flag] = current
        elif current is not None and line.startswith("   "):
            current.append(line)
        else:
            current = None
    return {flag: " ".join(" ".join(lines).split()) for flag, lines in parts.items()}


def notes(help_entry: str) -> dict[str, str]:
    """The trailing ``(default: X; repeatable; env Y)`` of a flag's help as ``{"default": X, "env": Y, ...}``."""
    m = re.search(r"\(([^()]*)\)$", help_entry)
    assert m, f"no (default/env) notes at the end of {help_entry!r}"
    out = {}
    for note in m.group(1).split("; "):
        key, _, value = note.replace(": ", " ", 1).partition(" ")
        out[key] = value
    return out


def parse_shown(shown: str, like: object) -> object:
    """A default as help shows it, read back as the type of the field's default (sizes: ``1 GiB``)."""
    number, _, unit = shown.partition(" ")
    if unit in UNITS:
        return int(number) * UNITS[unit]
    if isinstance(like, Path):
        return Path(shown)
    return type(like)(shown)


def assert_help_matches_settings(
    argv: list[str], settings: type[BaseSettings], env_prefix: str, not_flags: Collection[str] = ()
) -> None:
    """Every field of ``settings`` but ``not_flags`` has its ``--flag`` in ``inferwatch ARGV --help``, which
    shows the field's own default (or ``required``) and its environment variable ``ENV_PREFIX<FIELD>``."""
    entries = help_entries(argv)
    text = help_text(argv)
    assert not re.search(r"\(default [0-9]", text), "a default typed into a help string"
    for name, field in settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        if name in not_flags:
            assert flag not in entries, f"{flag} is not meant to be a flag of {' '.join(argv)}"
            continue
        assert flag in entries, f"{name} has no {flag} in {' '.join(argv)} --help"
        entry = entries[flag]
        shown = notes(entry)
        assert shown.get("env") == f"{env_prefix}{name.upper()}", entry
        assert entry.count("(default") <= 1, f"{flag}: more than one default in {entry!r}"
        default = field.get_default(call_default_factory=True)
        if field.is_required():
            assert "required" in shown, entry
        elif default is None or default is False or default == []:
            assert "default" not in shown, entry
        else:
            assert "default" in shown, f"{flag} does not show its default {default!r}: {entry!r}"
            assert parse_shown(shown["default"], default) == default, f"{flag}: {entry!r} vs {default!r}"
