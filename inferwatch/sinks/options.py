"""Sink URI query options, declared once per sink as a small table; and the comma-separated host list.

A sink declares its options as ``Option`` class attributes of an ``OptionTable`` subclass (name, type, default,
allowed values, one-line help). That one declaration drives parsing and validation (``OptionTable.parse``) and the
``--help`` listing (``OptionTable.help_lines``)::

    class KafkaOptions(OptionTable):
        topic = Text("inferwatch.records.{namespace}.{deployment}", "topic template of the records")
        linger_ms = Integer(20, "milliseconds a producer batch waits to fill")

    opts = KafkaOptions.parse(uri)  # opts.linger_ms is an int: the URI's value, or the default

Unknown option names are refused, so a typo (``?compresion=lz4``) is a clear ``ConfigError`` at start-up
rather than a silently ignored setting; every error names the scheme, the key and the fix.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar, cast, overload
from urllib.parse import unquote

from inferwatch.errors import ConfigError
from inferwatch.sinks.base import SinkURI

T = TypeVar("T")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Hosts:
    """``user:password@h1:p1,h2:p2`` split into ``["h1:p1", "h2:p2"]`` plus the optional credentials."""

    hosts: list[str]
    username: str | None = None
    password: str | None = None


def parse_hosts(uri: SinkURI, default_port: int) -> Hosts:
    userinfo, _, hostlist = uri.netloc.rpartition("@")
    hosts = []
    for h in hostlist.split(","):
        h = h.strip()
        if not h:
            continue
        hosts.append(h if h.rsplit(":", 1)[-1].isdigit() and ":" in h else f"{h}:{default_port}")
    if not hosts:
        raise ConfigError(
            f"{uri.scheme}:// sink needs at least one HOST:PORT, e.g. {uri.scheme}://127.0.0.1:{default_port}"
        )
    user, sep, password = userinfo.partition(":")
    return Hosts(hosts, unquote(user) or None, unquote(password) if sep else None)


# --- one option ----------------------------------------------------------------------------------------


class Option(ABC, Generic[T]):
    """One query option: its default, one-line help and parser; named by the ``OptionTable`` attribute it is.

    Read on a parsed table instance it is the option's value (``opts.linger_ms``); read on the table class it is
    the option itself (``KafkaOptions.linger_ms.default``).
    """

    name: str = ""

    def __init__(self, default: T, help: str) -> None:
        self.default = default
        self.help = help

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, table: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, table: OptionTable, owner: type[Any]) -> T: ...

    def __get__(self, table: OptionTable | None, owner: type[Any]) -> Self | T:
        return self if table is None else cast(T, table._values[self.name])

    @abstractmethod
    def parse(self, scheme: str, raw: str) -> T:
        """The value of ``raw`` (never empty); a ``ConfigError`` naming the scheme and the option if it is invalid."""

    @property
    @abstractmethod
    def kind(self) -> str:
        """What a value looks like, for the help line: ``integer >= 1``, ``gzip|lz4``, ``true|false``, ``file``;
        empty for free text."""

    def describe(self) -> str:
        """``help (kind, default X)``: the option's help line without its name (free text shows no kind)."""
        parts = [self.kind] if self.kind else []
        if self.default is not None:
            parts.append(f"default {_show(self.default)}")
        return f"{self.help} ({', '.join(parts)})" if parts else self.help


class Text(Option[str]):
    """Free text with a default (a topic or index template, a client id...)."""

    kind = ""

    def parse(self, scheme: str, raw: str) -> str:
        return raw


class OptionalText(Option[str | None]):
    """Free text that is ``None`` when absent (credentials, TLS/SASL settings passed through to a client)."""

    kind = ""

    def __init__(self, help: str) -> None:
        super().__init__(None, help)

    def parse(self, scheme: str, raw: str) -> str | None:
        return raw


class File(Option[str | None]):
    """A file (CA bundle, client certificate...): it must exist when the sink is opened; ``None`` when absent."""

    kind = "file"

    def __init__(self, help: str) -> None:
        super().__init__(None, help)

    def parse(self, scheme: str, raw: str) -> str | None:
        if not Path(raw).is_file():
            raise ConfigError(f"{scheme}:// option {self.name}: no such file {raw!r}")
        return raw


class Integer(Option[int]):
    """An integer, at least ``minimum``."""

    def __init__(self, default: int, help: str, minimum: int = 0) -> None:
        super().__init__(default, help)
        self.minimum = minimum

    @property
    def kind(self) -> str:
        return f"integer >= {self.minimum}"

    def parse(self, scheme: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError as e:
            raise ConfigError(f"{scheme}:// option {self.name}={raw!r} is not an integer") from e
        if value < self.minimum:
            raise ConfigError(f"{scheme}:// option {self.name}={value} must be >= {self.minimum}")
        return value


class Number(Option[float]):
    """A number, at least ``minimum``."""

    def __init__(self, default: float, help: str, minimum: float = 0.0) -> None:
        super().__init__(default, help)
        self.minimum = minimum

    @property
    def kind(self) -> str:
        return f"number >= {_show(self.minimum)}"

    def parse(self, scheme: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError as e:
            raise ConfigError(f"{scheme}:// option {self.name}={raw!r} is not a number") from e
        if value < self.minimum:
            raise ConfigError(f"{scheme}:// option {self.name}={value} must be >= {self.minimum}")
        return value


class Flag(Option[bool]):
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``; any case)."""

    kind = "true|false"

    def parse(self, scheme: str, raw: str) -> bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ConfigError(f"{scheme}:// option {self.name}={raw!r} must be true or false")


class Choice(Option[str]):
    """One of ``allowed`` (compared in lower case)."""

    def __init__(self, default: str, allowed: Collection[str], help: str) -> None:
        super().__init__(default, help)
        self.allowed = tuple(allowed)

    @property
    def kind(self) -> str:
        return "|".join(self.allowed)

    def parse(self, scheme: str, raw: str) -> str:
        value = raw.lower()
        if value not in self.allowed:
            raise ConfigError(f"{scheme}:// option {self.name}={value!r}: use one of {', '.join(sorted(self.allowed))}")
        return value


def _show(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# --- the table -----------------------------------------------------------------------------------------


class OptionTable:
    """The query options of one sink, declared once as ``Option`` class attributes of a subclass.

    ``parse(uri)`` refuses unknown names, parses every given value and returns an instance whose attributes are
    the typed values (an absent or empty option is its default); ``help_lines()`` lists the same options.
    """

    usage: ClassVar[str] = ""
    """The URI without its query, for the help listing: ``kafka://HOST:PORT[,HOST:PORT...]``."""

    def __init__(self, values: dict[str, Any], given: Collection[str]) -> None:
        self._values = values
        self._given = frozenset(given)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        clash = [name for name, o in vars(cls).items() if isinstance(o, Option) and hasattr(OptionTable, name)]
        if clash:
            raise TypeError(f"{cls.__name__}: option name(s) {', '.join(clash)} clash with OptionTable's own")

    @classmethod
    def options(cls) -> list[Option[Any]]:
        """Every option of the table (a subclass's after its bases'), in declaration order."""
        found: dict[str, Option[Any]] = {}
        for klass in reversed(cls.__mro__):
            found.update((o.name, o) for o in vars(klass).values() if isinstance(o, Option))
        return list(found.values())

    @classmethod
    def parse(cls, uri: SinkURI) -> Self:
        """The options of ``uri``; a ``ConfigError`` naming the scheme, the key and the valid keys or values."""
        options = {o.name: o for o in cls.options()}
        unknown = sorted(set(uri.options) - set(options))
        if unknown:
            raise ConfigError(
                f"{uri.scheme}:// sink: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(options))}"
            )
        given = [name for name, raw in uri.options.items() if raw != ""]
        values = {name: opt.default for name, opt in options.items()}
        values.update((name, options[name].parse(uri.scheme, uri.options[name])) for name in given)
        return cls(values, given)

    def is_set(self, option: Option[Any]) -> bool:
        """Whether the URI gave ``option`` a value (rather than leaving it to its default)."""
        return option.name in self._given

    @classmethod
    def help_lines(cls) -> list[str]:
        """One line per option, in declaration order: ``name  help (kind, default X)``."""
        options = cls.options()
        width = max((len(o.name) for o in options), default=0)
        return [f"{o.name:<{width}}  {o.describe()}" for o in options]


__all__ = [
    "Choice",
    "File",
    "Flag",
    "Hosts",
    "Integer",
    "Number",
    "Option",
    "OptionTable",
    "OptionalText",
    "Text",
    "parse_hosts",
]
