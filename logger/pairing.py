"""Pairs the request and response halves of CloudEvents-delivered exchanges by request id.

Halves may arrive in any order. A half whose partner has not come within ``ttl`` seconds is emitted on
its own as a partial exchange (and counted), so nothing accepted is ever held forever or lost.
Used from one event loop only; not thread-safe by design.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from inferwatch.capture import Body, Exchange
from inferwatch.logger.metrics import LoggerMetrics


@dataclass(slots=True)
class Half:
    """One CloudEvent's share of an exchange."""

    kind: str  # "request" | "response"
    body: Body
    arrived: float
    template: Exchange
    """Metadata from the event (model, deployment, namespace, endpoint, protocol, tags)."""
    skip: bool = False


class Pairer:
    """``add`` halves; complete exchanges (or partial ones after ``ttl``) go to ``emit``."""

    def __init__(self, ttl: float, emit: Callable[[Exchange], object], metrics: LoggerMetrics) -> None:
        self.ttl = ttl
        self.emit = emit
        self.metrics = metrics
        self._pending: OrderedDict[str, tuple[float, Half]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, half: Half) -> None:
        rid = half.template.request_id
        waiting = self._pending.pop(rid, None)
        if waiting is None or waiting[1].kind == half.kind:
            self._pending[rid] = (half.arrived + self.ttl, half)
        else:
            self._complete(waiting[1], half)
        self.metrics.pairing_pending.set(len(self._pending))

    def expire(self, now: float | None = None) -> int:
        """Emit every half whose partner is overdue; returns how many."""
        now = time.time() if now is None else now
        n = 0
        while self._pending:
            rid, (deadline, half) = next(iter(self._pending.items()))
            if deadline > now:
                break
            del self._pending[rid]
            self._partial(half)
            n += 1
        self.metrics.pairing_pending.set(len(self._pending))
        return n

    def flush(self) -> int:
        """Emit everything still waiting (on shutdown) as partial records."""
        return self.expire(float("inf"))

    def _complete(self, a: Half, b: Half) -> None:
        req, resp = (a, b) if a.kind == "request" else (b, a)
        if req.skip or resp.skip:
            return
        ex = _merge(req.template, resp.template)
        ex.request, ex.response = req.body, resp.body
        ex.received_at = req.arrived
        ex.responded_at = max(resp.arrived, req.arrived)
        self.emit(ex)

    def _partial(self, half: Half) -> None:
        if half.skip:
            return
        missing = "response" if half.kind == "request" else "request"
        self.metrics.pairing_timeouts.labels(missing).inc()
        ex = half.template
        ex.partial = True
        ex.received_at = half.arrived
        if half.kind == "request":
            ex.request = half.body
        else:
            ex.response = half.body
            ex.responded_at = half.arrived
        self.emit(ex)


def _merge(req: Exchange, resp: Exchange) -> Exchange:
    """The request half's metadata, completed by the response half's where the request had none."""
    for name in ("protocol", "model_name", "model_version", "deployment", "namespace", "endpoint"):
        if getattr(req, name) is None:
            setattr(req, name, getattr(resp, name))
    req.tags = {**resp.tags, **req.tags}
    return req
