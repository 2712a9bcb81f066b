"""Load for the soak: a closed loop to find capacity, then a fixed request rate, every request with its own id.

Each request carries ``x-request-id: <prefix>-<n>``; the ids the logger answered 200 are the ones that must be
found in every sink afterwards (the logger acknowledged them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

PATH = "/api/v1.0/predictions"
BODY = b'{"data": {"names": ["a", "b", "c", "d"], "ndarray": [[5.1, 3.5, 1.4, 0.2]]}}'
HEADERS = {"Content-Type": "application/json"}


@dataclass
class LoadResult:
    """What one load phase sent and what came back."""

    seconds: float
    sent: int = 0
    acked: list[str] = field(default_factory=list)
    """Request ids answered 200."""
    errors: dict[str, int] = field(default_factory=dict)
    late: int = 0
    """Requests that started more than one interval after their scheduled time (the generator fell behind)."""

    @property
    def rate(self) -> float:
        return len(self.acked) / self.seconds if self.seconds > 0 else 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def _one(session: aiohttp.ClientSession, url: str, rid: str, out: LoadResult) -> None:
    out.sent += 1
    try:
        async with session.post(url, data=BODY, headers={**HEADERS, "x-request-id": rid}) as resp:
            await resp.read()
            if resp.status == 200:
                out.acked.append(rid)
            else:
                out.error(f"http {resp.status}")
    except (TimeoutError, aiohttp.ClientError) as e:
        out.error(type(e).__name__)


async def closed_loop(base: str, concurrency: int, seconds: float, prefix: str) -> LoadResult:
    """``concurrency`` clients sending back to back for ``seconds``: the rate the logger sustains."""
    out = LoadResult(seconds)
    deadline = time.monotonic() + seconds
    counter = iter(range(10**12))

    async def client(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            await _one(session, base + PATH, f"{prefix}-{next(counter)}", out)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        t0 = time.monotonic()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        out.seconds = time.monotonic() - t0
    return out


async def fixed_rate(
    base: str,
    rate: float,
    seconds: float,
    prefix: str,
    on_tick: Callable[[float, LoadResult], None] | None = None,
    max_in_flight: int = 256,
) -> LoadResult:
    """Start ``rate`` requests per second for ``seconds`` (open loop: a slow answer does not slow the sending, up
    to ``max_in_flight`` requests outstanding). ``on_tick(elapsed, result)`` is called about once a second."""
    out = LoadResult(seconds)
    interval = 1.0 / rate
    gate = asyncio.Semaphore(max_in_flight)
    tasks: set[asyncio.Task[None]] = set()

    async def send(session: aiohttp.ClientSession, rid: str) -> None:
        async with gate:
            await _one(session, base + PATH, rid, out)

    connector = aiohttp.TCPConnector(limit=max_in_flight)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        t0 = time.monotonic()
        next_tick, n = t0 + 1.0, 0
        while (now := time.monotonic()) - t0 < seconds:
            due = t0 + n * interval
            if due > now:
                await asyncio.sleep(due - now)
            elif now - due > interval:
                out.late += 1
            task = asyncio.create_task(send(session, f"{prefix}-{n}"))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
            if on_tick is not None and now >= next_tick:
                on_tick(now - t0, out)
                next_tick += 1.0
        await asyncio.gather(*tasks)
        out.seconds = time.monotonic() - t0
    return out
