"""CLI flags derived from a settings class, so that each option is declared once: as a documented field.

``add_settings_arguments(parser, LoggerSettings)`` adds one flag per field. ``metrics_port`` becomes
``--metrics-port`` (``dest="metrics_port"``). The flag's type comes from the annotation: ``int``, ``float``,
``str`` or ``Path``; a ``Literal`` gives ``choices``, a list gives a repeatable flag (``action="append"``) and a
bool gives a switch (``store_true``). The help is the field's ``Field(description=...)``, followed by what the
field itself says about its default and by the environment variable that sets it::

    --pairing-ttl PAIRING_TTL
        Seconds to wait for the other half of an event (default: 30.0; env INFERWATCH_LOGGER_PAIRING_TTL)

Every flag defaults to ``None``, so ``inferwatch.settings.from_cli`` keeps its precedence: a flag given on the
command line > the environment > the field default. Where a command legitimately differs from its settings (a
metavar, an alias, other help, a field it has no use for), a small table of ``Flag`` overrides per command says
so. Flags that are not settings fields stay plain ``add_argument`` calls next to it.
"""

from __future__ import annotations

import argparse
import types
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

SCALARS: tuple[type, ...] = (int, float, Path)
"""Field types a flag's value is converted to (argparse ``type=``); ``str`` values stay as argparse reads them."""

SIZES: tuple[tuple[str, int], ...] = (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))


@dataclass(frozen=True)
class Flag:
    """How one command's flag differs from what its settings field gives; every attribute is optional."""

    help: str | None = None
    """Replaces the field's description on this command (the default and the env var are still appended)."""
    metavar: str | None = None
    aliases: tuple[str, ...] = ()
    """Option strings besides ``--field-name``, e.g. ``("-p",)``."""
    omit: bool = False
    """No flag for this field on this command (its environment variable still applies)."""


OMIT = Flag(omit=True)


def flag_name(field: str) -> str:
    """``metrics_port`` -> ``--metrics-port``."""
    return "--" + field.replace("_", "-")


def env_var(settings: type[BaseSettings], field: str) -> str:
    """The environment variable pydantic-settings reads for ``field`` (``INFERWATCH_LOGGER_PAIRING_TTL``)."""
    alias = settings.model_fields[field].validation_alias
    name = alias if isinstance(alias, str) else f"{settings.model_config.get('env_prefix', '')}{field}"
    return name if settings.model_config.get("case_sensitive") else name.upper()


def human_bytes(n: int) -> str:
    """``1073741824`` -> ``1 GiB``; sizes that are no whole number of KiB/MiB/GiB stay plain numbers."""
    for unit, size in SIZES:
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return str(n)


def show_default(field: str, value: object) -> str | None:
    """How help shows a field's default: sizes (``*_bytes``) in KiB/MiB/GiB; ``None`` when there is nothing to
    show (no value, an empty list, a switch that is off): the description says what happens then."""
    if value is None or value is False or value == []:
        return None
    if field.endswith("_bytes") and isinstance(value, int):
        return human_bytes(value)
    return str(value)


def add_settings_arguments(
    parser: argparse._ActionsContainer,
    settings: type[BaseSettings],
    flags: Mapping[str, Flag] | None = None,
    *,
    only: Collection[str] | None = None,
    skip: Collection[str] = (),
) -> list[argparse.Action]:
    """Add a flag for each field of ``settings`` (in declaration order) to ``parser`` (or an argument group).

    ``flags`` overrides single fields (see ``Flag``; a name that is no field is an error, so a typo cannot go
    unnoticed); ``only``/``skip`` select fields, e.g. to put some of them in an argument group of their own.
    Returns the actions added.
    """
    flags = flags or {}
    unknown = sorted(set(flags) - set(settings.model_fields))
    if unknown:
        raise ValueError(f"flag overrides for fields {settings.__name__} does not have: {', '.join(unknown)}")
    added = []
    for name, info in settings.model_fields.items():
        flag = flags.get(name, Flag())
        if flag.omit or name in skip or (only is not None and name not in only):
            continue
        kwargs = _shape(settings, name, info)
        kwargs["help"] = _help(settings, name, info, flag, repeatable=kwargs.get("action") == "append")
        if flag.metavar is not None:
            kwargs["metavar"] = flag.metavar
        added.append(parser.add_argument(flag_name(name), *flag.aliases, dest=name, default=None, **kwargs))
    return added


def _shape(settings: type[BaseSettings], name: str, info: FieldInfo) -> dict[str, Any]:
    """argparse keywords for the field's annotation (``type``/``choices``/``action``)."""
    tp = _without_none(info.annotation)
    if tp is bool:
        return {"action": argparse.BooleanOptionalAction if info.default is True else "store_true"}
    if get_origin(tp) is list:
        return {"action": "append", **_value(settings, name, get_args(tp)[0])}
    return _value(settings, name, tp)


def _value(settings: type[BaseSettings], name: str, tp: Any) -> dict[str, Any]:
    if get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) is Literal:
        choices = get_args(tp)
        return {"choices": choices, **_value(settings, name, type(choices[0]))}
    if tp is str:
        return {}
    if tp in SCALARS:
        return {"type": tp}
    raise TypeError(f"{settings.__name__}.{name}: no CLI flag for type {tp!r}; give it Flag(omit=True)")


def _without_none(tp: Any) -> Any:
    """``X | None`` -> ``X``."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _help(settings: type[BaseSettings], name: str, info: FieldInfo, flag: Flag, *, repeatable: bool) -> str:
    text = flag.help or info.description
    if not text:
        raise ValueError(f"{settings.__name__}.{name} has no description: give it Field(description=...)")
    notes = []
    if info.is_required():
        notes.append("required")
    else:
        shown = show_default(name, info.get_default(call_default_factory=True))
        if shown is not None:
            notes.append(f"default: {shown}")
    if repeatable:
        notes.append("repeatable")
    notes.append(f"env {env_var(settings, name)}")
    return f"{text.strip().removesuffix('.')} ({'; '.join(notes)})".replace("%", "%%")
