"""Pairs the request and response halves of exchanges that arrive separately, by request id and graph node.

The logger's CloudEvents receiver and the Kafka consumers (Seldon Core's executor and dataflow topics) log each
half of an exchange on its own; both join them here, each with its own metrics (``PairingMetrics``).

Halves may arrive in any order. A half whose partner has not come within ``ttl`` seconds is emitted on
its own as a partial exchange (and counted), so nothing accepted is ever held forever or lost. The waiting halves
are bounded by bytes as well (``max_bytes``, their captured bodies): past it the oldest are emitted at once as
partial records through the same path (counted in ``<prefix>_pairing_overflow_total``), never dropped.

Several nodes of one inference graph log the same request id (a Seldon transformer and model share
``Ce-Requestid``; a KServe transformer and predictor share the event id): halves are paired per
``(request id, node)``, node = KServe's ``component`` else Seldon's ``Ce-Modelid``. The first of a request's
exchanges keeps the request id as its record id; an exchange of another node is ``<request id>@<node>``
(its ``request_id`` tag keeps the request id). A second half of the same kind for the same request and node,
before the partner came, does not replace the first: the first is written at once as a partial record
(counted in ``<prefix>_pairing_superseded_total``). Anything else that reuses an id is caught when
the exchange is recorded (``inferwatch.logger.collisions``).

A half's ``arrived`` (wall clock, when this process got it) times its wait; ``at`` (when it was logged upstream,
e.g. a Kafka message's timestamp; default ``arrived``) is the exchange's time in the record.

Used from one thread (or event loop) only; not thread-safe by design.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from inferwatch.capture import Body, Exchange
from inferwatch.records import NODE_MARK, REQUEST_ID_TAG

COMPONENT_TAG = "component"
"""Tag of KServe's ``component`` extension (predictor, transformer, explainer)."""


@dataclass(slots=True)
class Half:
    """One CloudEvent's share of an exchange."""

    kind: str  # "request" | "response"
    body: Body
    arrived: float
    template: Exchange
    """Metadata from the event (model, deployment, namespace, endpoint, protocol, tags)."""
    skip: bool = False
    at: float | None = None
    """When the half was logged upstream (``None``: ``arrived``); the record's received/responded time."""
    origin: tuple[str, int, int] | None = None
    """Where it was read from (a Kafka topic, partition and offset), for a caller that must not acknowledge its
    source while the half waits (``inferwatch.sources.decoder``)."""

    @property
    def time(self) -> float:
        return self.arrived if self.at is None else self.at

    @property
    def node(self) -> str:
        """The graph node the half comes from: KServe's component, else Seldon's model id ("" if neither)."""
        component = self.template.tags.get(COMPONENT_TAG)
        return str(component or self.template.model_name or "")


class PairingMetrics:
    """The pairing series of one service: ``<prefix>_pairing_*`` (``inferwatch_logger``, ``inferwatch_consumer``)."""

    def __init__(self, registry: CollectorRegistry, prefix: str) -> None:
        self.timeouts = Counter(
            f"{prefix}_pairing_timeouts_total",
            "Halves whose partner never arrived within the TTL; written as partial records.",
            ["missing"],
            registry=registry,
        )
        self.pending = Gauge(f"{prefix}_pairing_pending", "Halves waiting for their partner.", registry=registry)
        self.superseded = Counter(
            f"{prefix}_pairing_superseded_total",
            "Halves followed by another half of the same kind for the same request and node before their partner "
            "came; written at once as partial records (never dropped).",
            ["kind"],
            registry=registry,
        )
        self.overflow = Counter(
            f"{prefix}_pairing_overflow_total",
            "Halves written early as partial records because the halves waiting for their partner held more than "
            "the pairing byte limit (never dropped).",
            ["kind"],
            registry=registry,
        )
        self.bytes = Gauge(
            f"{prefix}_pairing_bytes", "Bytes of the bodies of halves waiting for their partner.", registry=registry
        )


class Pairer:
    """``add`` halves; complete exchanges (or partial ones after ``ttl``) go to ``emit``."""

    def __init__(
        self,
        ttl: float,
        emit: Callable[[Exchange], object],
        metrics: PairingMetrics,
        memory: int = 65_536,
        max_bytes: int | None = None,
    ) -> None:
        self.ttl = ttl
        self.emit = emit
        self.metrics = metrics
        self.memory = memory
        self.max_bytes = max_bytes
        """Most bytes of bodies waiting for their partner (``None``: bounded by ``ttl`` only)."""
        self.pending_bytes = 0
        self._pending: OrderedDict[tuple[str, str], tuple[float, Half]] = OrderedDict()
        self._first_node: OrderedDict[str, str] = OrderedDict()
        """Request id -> the node whose exchange was emitted first under it (bounded by ``memory``)."""

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, half: Half) -> None:
        key = (half.template.request_id, half.node)
        waiting = self._take(key)
        if waiting is None:
            self._put(key, half)
        elif waiting.kind == half.kind:  # the same half again: keep both, the first as a partial record
            self.metrics.superseded.labels(half.kind).inc()
            self._partial(waiting, count=False)
            self._put(key, half)
        else:
            self._complete(waiting, half)
        self._shed()
        self._gauges()

    def _put(self, key: tuple[str, str], half: Half) -> None:
        self._pending[key] = (half.arrived + self.ttl, half)
        self.pending_bytes += len(half.body.raw)

    def _take(self, key: tuple[str, str]) -> Half | None:
        entry = self._pending.pop(key, None)
        if entry is None:
            return None
        self.pending_bytes -= len(entry[1].body.raw)
        return entry[1]

    def _shed(self) -> None:
        """Over ``max_bytes``: the oldest waiting halves go out now as partial records (never dropped)."""
        while self.max_bytes is not None and self.pending_bytes > self.max_bytes and self._pending:
            key = next(iter(self._pending))
            half = self._take(key)
            assert half is not None
            self.metrics.overflow.labels(half.kind).inc()
            self._partial(half, count=False)

    def _gauges(self) -> None:
        self.metrics.pending.set(len(self._pending))
        self.metrics.bytes.set(self.pending_bytes)

    def expire(self, now: float | None = None) -> int:
        """Emit every half whose partner is overdue; returns how many."""
        now = time.time() if now is None else now
        n = 0
        while self._pending:
            key, (deadline, half) = next(iter(self._pending.items()))
            if deadline > now:
                break
            self._take(key)
            self._partial(half)
            n += 1
        self._gauges()
        return n

    def waiting(self) -> Iterator[Half]:
        """The halves waiting for their partner, oldest first."""
        return (half for _, half in self._pending.values())

    def discard(self, which: Callable[[Half], bool]) -> int:
        """Forget the waiting halves ``which`` selects, writing nothing (their source delivers them again
        elsewhere); returns how many."""
        gone = [key for key, (_, half) in self._pending.items() if which(half)]
        for key in gone:
            self._take(key)
        self._gauges()
        return len(gone)

    def flush(self) -> int:
        """Emit everything still waiting (on shutdown) as partial records."""
        return self.expire(float("inf"))

    def _complete(self, a: Half, b: Half) -> None:
        req, resp = (a, b) if a.kind == "request" else (b, a)
        if req.skip or resp.skip:
            return
        ex = _merge(req.template, resp.template)
        ex.request, ex.response = req.body, resp.body
        ex.received_at = req.time
        ex.responded_at = max(resp.time, req.time)
        self._name(ex, req.node)
        self.emit(ex)

    def _partial(self, half: Half, *, count: bool = True) -> None:
        if half.skip:
            return
        if count:
            missing = "response" if half.kind == "request" else "request"
            self.metrics.timeouts.labels(missing).inc()
        ex = half.template
        self._name(ex, half.node)
        ex.partial = True
        ex.received_at = half.time
        if half.kind == "request":
            ex.request = half.body
        else:
            ex.response = half.body
            ex.responded_at = half.time
        self.emit(ex)

    def _name(self, ex: Exchange, node: str) -> None:
        """The record id: the request id for the first node emitted under it, ``<request id>@<node>`` for others."""
        rid = ex.request_id
        first = self._first_node.get(rid)
        if first is None:
            self._first_node[rid] = node
            if len(self._first_node) > self.memory:
                self._first_node.popitem(last=False)
        elif first != node:
            ex.tags.setdefault(REQUEST_ID_TAG, rid)
            ex.request_id = f"{rid}{NODE_MARK}{node or '-'}"


def _merge(req: Exchange, resp: Exchange) -> Exchange:
    """The request half's metadata, completed by the response half's where the request had none."""
    for name in ("protocol", "model_name", "model_version", "deployment", "namespace", "endpoint"):
        if getattr(req, name) is None:
            setattr(req, name, getattr(resp, name))
    req.tags = {**resp.tags, **req.tags}
    return req
