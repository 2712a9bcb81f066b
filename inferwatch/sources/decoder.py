"""Messages in, records out: decoding (``inferwatch.sources.formats``), pairing Seldon's halves, building records.

``MessageDecoder.feed`` takes one message and returns the records it completed: the logger's records as they are,
Seldon's halves once their partner arrived (or, with ``pair=False``, a request half at once — what a detector
needs), events and errors at once. ``expire`` returns the exchanges whose partner did not come within ``ttl``
seconds, as partial records (request-only logging ends up here).

A half waiting for its partner has not been written anywhere, so its message must not be committed: ``holding``
says, per ``(topic, partition)``, the lowest offset still held, and a consumer commits no further than that.
After a restart those messages are read again and paired again (the records' ids do not depend on it: sinks
write them idempotently). ``release`` forgets the halves of partitions this consumer no longer owns (their new
owner reads them again from the committed offset).

Used from one thread only.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from inferwatch.capture import Exchange, RecordBuilder
from inferwatch.pairing import Pairer, PairingMetrics
from inferwatch.records import InferenceRecord
from inferwatch.results import Record
from inferwatch.sources.formats import AUTO, Decoded, decode
from inferwatch.sources.messages import Message

Partition = tuple[str, int]


class MessageDecoder:
    """Decodes messages of ``fmt`` into records (module doc)."""

    def __init__(
        self,
        fmt: str = AUTO,
        *,
        builder: RecordBuilder | None = None,
        metrics: PairingMetrics,
        ttl: float = 30.0,
        max_payload: int = 1_048_576,
        max_pending_bytes: int | None = 64 * 1_048_576,
        pair: bool = True,
    ) -> None:
        self.fmt = fmt
        self.builder = builder or RecordBuilder()
        self.max_payload = max_payload
        self.pair = pair
        self._out: list[Record] = []
        self._pairer = Pairer(ttl, self._emit, metrics, max_bytes=max_pending_bytes)

    def feed(self, message: Message) -> list[Record]:
        """The records ``message`` completes (raises ``formats.Undecodable``; nothing is held for it then)."""
        decoded = decode(message, self.fmt, self.max_payload)
        return self.take(decoded, message)

    def take(self, decoded: Decoded, message: Message) -> list[Record]:
        """The records a decoded message completes (``feed`` without the decoding)."""
        out: list[Record] = list(decoded.records)
        if decoded.exchange is not None:
            out.append(self.builder.build(decoded.exchange))
        if decoded.half is not None:
            half = decoded.half
            if not self.pair:
                if half.kind == "request":
                    ex = half.template
                    ex.request, ex.received_at = half.body, half.time
                    out.append(self.builder.build(ex))
            else:
                half.origin = (message.topic, message.partition, message.offset)
                self._pairer.add(half)
                out.extend(self._drain())
        return out

    def expire(self, now: float | None = None) -> list[Record]:
        """Partial records of the halves whose partner is overdue."""
        self._pairer.expire(time.time() if now is None else now)
        return self._drain()

    def flush(self) -> list[Record]:
        """Everything still waiting, as partial records."""
        self._pairer.flush()
        return self._drain()

    def holding(self) -> dict[Partition, int]:
        """The lowest offset of a waiting half per ``(topic, partition)`` (module doc)."""
        low: dict[Partition, int] = {}
        for half in self._pairer.waiting():
            if half.origin is not None:
                topic, partition, offset = half.origin
                key = (topic, partition)
                low[key] = min(offset, low.get(key, offset))
        return low

    def release(self, partitions: Iterable[Partition]) -> int:
        """Forget the waiting halves of ``partitions`` (revoked from this consumer); returns how many."""
        gone = set(partitions)
        return self._pairer.discard(lambda half: half.origin is not None and half.origin[:2] in gone)

    def __len__(self) -> int:
        return len(self._pairer)

    def _emit(self, ex: Exchange) -> None:
        self._out.append(self.builder.build(ex))

    def _drain(self) -> list[Record]:
        out, self._out = self._out, []
        return out


def instances_of(record: Record) -> list[dict[str, object]]:
    """The request rows of a logged record (what a detector takes); none for a result."""
    if not isinstance(record, InferenceRecord):
        return []
    return [inst["request"] for inst in record.instances if inst.get("request")]
