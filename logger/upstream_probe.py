"""Whether the model behind the proxy answers: the proxy's readiness, probed in the background, never per request.

``UpstreamProbe.run`` (a task of the proxy's lifespan) checks the model every ``interval`` seconds: a TCP connect
to the upstream's host and port, or, with a ``path`` (``--upstream-probe-path``, e.g. ``/v2/health/ready``), an
HTTP ``GET`` that must answer 2xx. ``check`` returns the last result; a result older than three intervals (the
task stopped) is not trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import aiohttp

from inferwatch.health import Check
from inferwatch.protocols.headers import SKIP_LOGGING

log = logging.getLogger("inferwatch.logger.probe")


class UpstreamProbe:
    """The cached reachability of one model server (see module doc)."""

    def __init__(
        self,
        url: str,
        path: str | None = None,
        interval: float = 5.0,
        timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(url)
        self.url = url
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.target = url + path if path else None
        self.interval = interval
        self.timeout = min(timeout, interval)
        self._clock = clock
        self._last: tuple[float, Check] | None = None

    def check(self) -> Check:
        """The last probe's result (not ok before the first one, or when it is stale)."""
        if self._last is None:
            return Check(False, f"model server {self.url} not probed yet")
        at, result = self._last
        age = self._clock() - at
        if age > 3 * self.interval:
            return Check(False, f"no probe of {self.url} for {age:.0f}s", {"url": self.url})
        return result

    async def run(self) -> None:
        """Probe now, then every ``interval`` seconds, until cancelled."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
            while True:
                self._last = (self._clock(), await self.probe(session))
                await asyncio.sleep(self.interval)

    async def probe(self, session: aiohttp.ClientSession) -> Check:
        """One probe of the model server."""
        detail: dict[str, object] = {"url": self.target or self.url}
        started = time.perf_counter()
        try:
            if self.target is None:
                async with asyncio.timeout(self.timeout):
                    _, writer = await asyncio.open_connection(self.host, self.port)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            else:
                async with session.get(self.target, headers={SKIP_LOGGING: "true"}) as resp:
                    detail["status"] = resp.status
                    if not 200 <= resp.status < 300:
                        return Check(False, f"model server answered {resp.status} on {self.target}", detail)
        except (OSError, TimeoutError, aiohttp.ClientError) as e:
            return Check(False, f"model server {self.url} is unreachable: {type(e).__name__}: {e}", detail)
        detail["seconds"] = round(time.perf_counter() - started, 4)
        return Check(True, detail=detail)
