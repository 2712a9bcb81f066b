"""Typed access to a sink URI's query options and its comma-separated host list.

Unknown option names are refused, so a typo (``?compresion=lz4``) is a clear ``ConfigError`` at start-up
rather than a silently ignored setting.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from inferwatch.errors import ConfigError
from inferwatch.sinks.base import SinkURI

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


class Options:
    """The query options of one sink URI, checked against the names the sink understands."""

    def __init__(self, uri: SinkURI, known: Collection[str]) -> None:
        unknown = sorted(set(uri.options) - set(known))
        if unknown:
            raise ConfigError(
                f"{uri.scheme}:// sink: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        self.scheme = uri.scheme
        self._values = uri.options

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self._values.get(key)
        return value if value not in (None, "") else default

    def path(self, key: str) -> str | None:
        """A file option (CA bundle, client certificate...): it must exist when the sink is opened."""
        value = self.get(key)
        if value is not None and not Path(value).is_file():
            raise ConfigError(f"{self.scheme}:// option {key}: no such file {value!r}")
        return value

    def text(self, key: str, default: str) -> str:
        return self.get(key) or default

    def integer(self, key: str, default: int, minimum: int = 0) -> int:
        raw = self.get(key)
        try:
            value = int(raw) if raw is not None else default
        except ValueError as e:
            raise ConfigError(f"{self.scheme}:// option {key}={raw!r} is not an integer") from e
        if value < minimum:
            raise ConfigError(f"{self.scheme}:// option {key}={value} must be >= {minimum}")
        return value

    def number(self, key: str, default: float, minimum: float = 0.0) -> float:
        raw = self.get(key)
        try:
            value = float(raw) if raw is not None else default
        except ValueError as e:
            raise ConfigError(f"{self.scheme}:// option {key}={raw!r} is not a number") from e
        if value < minimum:
            raise ConfigError(f"{self.scheme}:// option {key}={value} must be >= {minimum}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        raw = self.get(key)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ConfigError(f"{self.scheme}:// option {key}={raw!r} must be true or false")

    def choice(self, key: str, default: str, allowed: Collection[str]) -> str:
        value = self.text(key, default).lower()
        if value not in allowed:
            raise ConfigError(f"{self.scheme}:// option {key}={value!r}: use one of {', '.join(sorted(allowed))}")
        return value
