"""Kafka sink (kafka-python or confluent-kafka): one JSON message per record keyed by request id, Seldon headers.

URI: ``kafka://HOST:PORT[,HOST:PORT...]?topic=...&compression=...``; every option, its type and default is
declared once in ``inferwatch.sinks.kafka_options.KafkaOptions`` (listed by ``inferwatch logger --help``).

- **Topic**: a template (``inferwatch.sinks.naming``); the default gives one topic of paired records per
  namespace and deployment, e.g. ``inferwatch.records.prod.iris``; parts a record lacks are ``default``.
- **Message**: key = request id (so a partition keeps a request's history in order and compacted topics or
  consumers can de-duplicate), value = ``record.to_json()``, headers = the Seldon executor's Kafka
  fields: ``type`` (``io.inferwatch.inference.record``, see ``headers.KAFKA_RECORD_TYPE``), ``requestid``,
  ``modelid``, ``inferenceservicename``, ``namespace``, ``endpoint``, ``protocol``, ``content-type``
  (``application/json``). A header whose value the record lacks is left out.
- **Results** (``ResultRecord`` of a detector/explainer) go to ``results_topic``: when the option is absent,
  the URI's ``topic`` if it names one (a ``--results-sink`` URI), else ``inferwatch.results.{namespace}.{deployment}``
  — never into the records topic, whose consumers expect records. Key = the request id (the result id for a
  drift window), value = ``ResultRecord.to_json()`` (``"record_type": "result"``), headers ``type``
  (``io.inferwatch.result``), ``kind``, ``requestid`` and the naming fields.
- **Delivery**: acks=all with the idempotent producer (the broker drops the producer's own resends), then
  ``flush()`` and every future checked. A record the broker acknowledged is not sent again when the worker
  retries the same batch; Kafka stays at-least-once across process restarts and replays, so consumers
  de-duplicate by key (the search sinks, for one, store one document per request id).
- **Per record**: a message the broker did not take fails only its record: ``write`` raises ``RecordsRejected``
  naming them (``inferwatch.sinks.kafka_refusals``), the others count as written. Each message is checked first
  against the topic's limit (``inferwatch.sinks.kafka_limits``: the topic's ``max.message.bytes``, learned with
  the admin API, and ``max_request_size``, the smaller wins): one too large is not sent but reported
  ``too_large``, and the delivery worker sends it again reduced, then shed (``inferwatch.reduction``: flags
  ``reduced``, ``shed``) — dropped, alone and counted, only if even that does not fit. A record that cannot be
  serialised is reported ``unserialisable`` the same way. Refused authorization, or producer settings the
  client rejects, block the sink (``SinkBlocked``): its records wait in the spool until someone fixes it.
- **Client**: ``client=kafka-python`` or ``client=confluent`` (librdkafka, ``inferwatch[kafka-fast]``, several
  times less CPU per message; ``inferwatch.sinks.kafka_confluent``), chosen from ``PRODUCERS``; both take the
  same options.
- The producer is created on the first ``write``: a broker that is down at start-up makes ``write`` raise a
  retriable ``SinkError`` instead of crashing the logger.
"""

from __future__ import annotations

import importlib
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kafka import codec
from kafka.errors import KafkaError, KafkaTimeoutError

from inferwatch.errors import ConfigError, SinkError
from inferwatch.protocols import headers as h
from inferwatch.results import KAFKA_KIND, KAFKA_RESULT_TYPE, Record, ResultRecord
from inferwatch.sinks.base import Sink, SinkHealth, SinkURI
from inferwatch.sinks.failures import Block, RecordFailure, RecordsRejected, Refusal, SinkBlocked
from inferwatch.sinks.kafka_limits import AdminLookup, MessageLimits, message_size
from inferwatch.sinks.kafka_options import (
    ACKS,
    COMPRESSIONS,
    DEFAULT_RESULTS_TOPIC,
    DEFAULT_TOPIC,
    PRODUCERS,
    KafkaOptions,
)
from inferwatch.sinks.kafka_refusals import AUTH, auth_block, failure
from inferwatch.sinks.naming import NameTemplate, kafka_topic_template
from inferwatch.sinks.options import parse_hosts

log = logging.getLogger(__name__)

_EXTRAS = {"kafka-python": "kafka", "confluent": "kafka-fast"}
_MAX_REMEMBERED = 100_000
_CODECS: dict[str, tuple[Callable[[], bool], str]] = {
    "lz4": (codec.has_lz4, "lz4"),  # lz4 and zstandard come with inferwatch[kafka]
    "zstd": (codec.has_zstd, "zstandard"),
    "snappy": (codec.has_snappy, "python-snappy"),
}


@dataclass(frozen=True)
class KafkaSinkConfig:
    """Producer settings parsed from a ``kafka://`` URI (defaults: ``KafkaOptions``, tuned for throughput, acks=all)."""

    bootstrap_servers: list[str]
    topic: str = KafkaOptions.topic.default
    compression: str = KafkaOptions.compression.default
    acks: str | int = ACKS[KafkaOptions.acks.default]
    linger_ms: int = KafkaOptions.linger_ms.default
    batch_size: int = KafkaOptions.batch_size.default
    client_id: str = KafkaOptions.client_id.default
    timeout: float = KafkaOptions.timeout.default
    """Seconds a ``write`` may block: bootstrap, metadata, buffer space and delivery of the batch."""
    max_request_size: int = KafkaOptions.max_request_size.default
    security: dict[str, str] = field(default_factory=dict)
    """TLS/SASL settings passed through to kafka-python (``security_protocol``, ``ssl_cafile``...)."""
    client: str = KafkaOptions.client.default
    """Producer implementation, a key of ``PRODUCERS``."""
    results_topic: str = KafkaOptions.results_topic.default
    """Topic template of ``ResultRecord``s (see module doc)."""

    @classmethod
    def from_uri(cls, uri: SinkURI) -> KafkaSinkConfig:
        opts = KafkaOptions.parse(uri)
        load_producer(opts.client)  # a missing package is a ConfigError at start-up, not at the first write
        compression = opts.compression
        if opts.client == "kafka-python" and compression in _CODECS and not _CODECS[compression][0]():
            raise ConfigError(f"kafka:// compression={compression} needs pip install {_CODECS[compression][1]}")
        return cls(
            bootstrap_servers=parse_hosts(uri, 9092).hosts,
            topic=opts.topic,
            compression=compression,
            acks=ACKS[opts.acks],
            linger_ms=opts.linger_ms,
            batch_size=opts.batch_size,
            client_id=opts.client_id,
            timeout=opts.timeout,
            max_request_size=opts.max_request_size,
            security=opts.security(),
            client=opts.client,
            results_topic=opts.results_topic_template(),
        )

    def producer_config(self) -> dict[str, Any]:
        timeout_ms = int(self.timeout * 1000)
        request_timeout_ms = min(timeout_ms, 30_000)
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "client_id": self.client_id,
            "acks": self.acks,
            # The idempotent producer needs acks=all; it keeps the broker from storing its own resends twice.
            "enable_idempotence": self.acks == "all",
            "compression_type": None if self.compression == "none" else self.compression,
            "linger_ms": self.linger_ms,
            "batch_size": self.batch_size,
            "max_request_size": self.max_request_size,
            "bootstrap_timeout_ms": timeout_ms,
            "max_block_ms": timeout_ms,
            "request_timeout_ms": request_timeout_ms,
            "delivery_timeout_ms": max(timeout_ms, request_timeout_ms + self.linger_ms),
            **self.security,
        }

    def admin_config(self) -> dict[str, Any]:
        """kafka-python ``KafkaAdminClient`` settings reaching the same brokers as the producer (limit lookups)."""
        timeout_ms = int(min(self.timeout, 10.0) * 1000)
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "client_id": self.client_id,
            "request_timeout_ms": timeout_ms,
            "bootstrap_timeout_ms": timeout_ms,
            **self.security,
        }


def load_producer(client: str) -> Callable[..., Any]:
    """The producer class of ``client`` (a ``PRODUCERS`` key); ``ConfigError`` naming the extra if missing."""
    module, _, name = PRODUCERS[client].partition(":")
    try:
        factory: Callable[..., Any] = getattr(importlib.import_module(module), name)
    except ImportError as e:
        raise ConfigError(
            f"kafka:// client={client} needs {e.name}: pip install 'inferwatch[{_EXTRAS[client]}]'"
        ) from e
    return factory


def message_headers(record: Record) -> list[tuple[str, bytes]]:
    """The Seldon executor's Kafka headers for ``record`` (absent values are left out); a result also has
    ``kind``, and ``type`` tells records and results apart."""
    result = isinstance(record, ResultRecord)
    values = {
        h.KAFKA_TYPE: KAFKA_RESULT_TYPE if result else h.KAFKA_RECORD_TYPE,
        KAFKA_KIND: record.kind if isinstance(record, ResultRecord) else None,
        h.EXT_REQUEST_ID: record.request_id if isinstance(record, ResultRecord) else record.id,
        h.EXT_MODEL_ID: record.model_name,
        h.EXT_INFERENCE_SERVICE_NAME: record.deployment,
        h.EXT_NAMESPACE: record.namespace,
        h.EXT_ENDPOINT: record.endpoint,
        h.EXT_PROTOCOL: record.protocol,
        h.KAFKA_CONTENT_TYPE: h.JSON_CONTENT_TYPE,
    }
    return [(k, v.encode()) for k, v in values.items() if v]


def message_value(record: Record) -> bytes:
    """The record's JSON (``InferenceRecord.to_json`` / ``ResultRecord.to_json``)."""
    return record.to_json()


def message_key(record: Record) -> str:
    """The request id (a drift result: its own id)."""
    return record.key if isinstance(record, ResultRecord) else record.id


class Delivery(Protocol):
    """What ``Producer.send`` returns: kafka-python's ``FutureRecordMetadata`` or ``DeliveryFuture`` (confluent)."""

    @property
    def exception(self) -> BaseException | None:
        """Why the message was not delivered (``None`` while pending or once delivered)."""
        ...

    def succeeded(self) -> bool:
        """Whether the broker acknowledged the message."""
        ...


class Producer(Protocol):
    """The calls ``KafkaSink`` makes on a producer: kafka-python's ``KafkaProducer`` or ``ConfluentProducer``."""

    def send(self, topic: str, *, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]]) -> Delivery:
        """Queue one message."""
        ...

    def flush(self, timeout: float | None = None) -> None:
        """Wait for every delivery report; ``KafkaTimeoutError`` if some are still pending after ``timeout``."""
        ...

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued (up to ``timeout`` seconds), then release the connections."""
        ...


class KafkaSink:
    """Writes each batch with ``send`` per record, one ``flush()``, and a check of every future."""

    def __init__(
        self,
        config: KafkaSinkConfig,
        name: str = "kafka",
        producer_factory: Callable[..., Producer] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._producer_factory = producer_factory or load_producer(config.client)
        self.topics: NameTemplate = kafka_topic_template(config.topic)
        self.results_topics: NameTemplate = kafka_topic_template(config.results_topic)
        self._producer: Producer | None = None
        self._lock = threading.Lock()
        self._acked: set[tuple[str, str]] = set()
        """(topic, id) acknowledged during a write that failed in part; skipped if the same batch comes again."""
        self._last_error: str | None = None
        self._lookup = AdminLookup(config.admin_config())
        self.limits = MessageLimits(self._lookup, config.max_request_size)
        """Largest message per topic (``inferwatch.sinks.kafka_limits``)."""

    @classmethod
    def from_uri(cls, uri: SinkURI) -> KafkaSink:
        return cls(KafkaSinkConfig.from_uri(uri))

    def topic_for(self, record: Record) -> str:
        return (self.results_topics if isinstance(record, ResultRecord) else self.topics).render(record)

    def message_limit(self, topic: str) -> int:
        """The largest message ``topic`` takes (learned from the cluster, cached), in bytes."""
        return self.limits.limit(topic)

    def write(self, records: Sequence[Record]) -> None:
        """Send every record, wait for the broker, and raise ``RecordsRejected`` naming those it did not take."""
        producer = self._connect()
        sent: list[tuple[int, tuple[str, str], Delivery]] = []
        failures: list[RecordFailure] = []
        for pos, r in enumerate(records):
            topic = self.topic_for(r)
            if (topic, r.id) in self._acked:
                continue
            try:
                value = message_value(r)
            except TypeError as e:
                failures.append(RecordFailure(pos, Refusal.RECORD, "unserialisable", f"record {r.id}: {e}"))
                continue
            key, headers = message_key(r).encode(), message_headers(r)
            size, limit = message_size(key, value, headers), self.message_limit(topic)
            if size > limit:
                why = f"record {r.id} is {size} bytes as a message; {topic} takes at most {limit}"
                failures.append(RecordFailure(pos, Refusal.RECORD, "too_large", why))
                continue
            try:
                future = producer.send(topic, key=key, value=value, headers=headers)
            except KafkaError as e:  # refused before sending: metadata or buffer timeout, too large, not authorized
                failures.append(self._failure(pos, r.id, topic, e))
                continue
            sent.append((pos, (topic, r.id), future))
        stuck = False
        try:
            producer.flush(timeout=self.config.timeout)
        except KafkaTimeoutError as e:
            log.warning("%s: flush timed out: %s", self.name, e)
            stuck = True
        for pos, (topic, rid), future in sent:
            if future.succeeded():
                self._acked.add((topic, rid))
            else:
                exc = future.exception or KafkaTimeoutError("not acknowledged in time")
                failures.append(self._failure(pos, rid, topic, exc))
        if failures:
            if len(self._acked) > _MAX_REMEMBERED:
                self._acked.clear()
            if stuck:
                self._discard(producer)
            raise self._rejected(sorted(failures, key=lambda f: f.position), len(records))
        self._acked.clear()
        self._last_error = None

    def _failure(self, pos: int, rid: str, topic: str, e: BaseException) -> RecordFailure:
        found = failure(pos, rid, topic, e)
        if found.reason == "too_large":
            self.limits.forget(topic)  # the topic takes less than we thought: ask again
        return found

    def _rejected(self, failures: list[RecordFailure], total: int) -> RecordsRejected:
        err = RecordsRejected(self.name, failures, total)
        if err.retriable:  # a record refused for what it carries says nothing about the sink's health
            self._last_error = err.message.removeprefix(f"{self.name}: ")
        return err

    def _connect(self) -> Producer:
        with self._lock:
            if self._producer is None:
                try:
                    self._producer = self._producer_factory(**self.config.producer_config())
                except AUTH as e:
                    block = auth_block(e, ",".join(self.config.bootstrap_servers))
                    self._last_error = block.describe()
                    raise SinkBlocked(self.name, block) from e
                except KafkaError as e:
                    self._last_error = f"cannot connect to {','.join(self.config.bootstrap_servers)}: {e}"
                    raise SinkError(f"{self.name}: {self._last_error}", retriable=True) from e
                except (ValueError, TypeError, AssertionError, OSError) as e:  # bad TLS/SASL settings
                    block = Block(
                        "settings",
                        f"the Kafka client refuses the sink's settings: {e}",
                        "correct the kafka:// URI's options (security_protocol, sasl_*, ssl_*) and restart the "
                        "service; the spooled records are delivered then",
                    )
                    self._last_error = block.describe()
                    raise SinkBlocked(self.name, block) from e
            return self._producer

    def _discard(self, producer: Producer) -> None:
        """Drop a producer that could not deliver within the timeout; the next write builds a new one.

        Seen with kafka-python 3 against a restarted broker: the old producer reconnects but its pending
        (idempotent) batches never complete, so every later flush times out. A fresh producer (new producer
        id, empty accumulator) delivers at once; the batch's records are retried by the delivery worker."""
        with self._lock:
            if self._producer is producer:
                self._producer = None
        try:
            producer.close(timeout=0)
        except Exception as e:  # closing a wedged producer must not hide the delivery error
            log.warning("%s: closing the stuck producer failed: %s", self.name, e)

    def flush(self) -> None:
        if self._producer is not None:
            try:
                self._producer.flush(timeout=self.config.timeout)
            except KafkaError as e:
                raise SinkError(f"{self.name}: flush failed: {e}", retriable=True) from e

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=self.config.timeout)
                self._producer = None
        self._lookup.close()

    def health(self) -> SinkHealth:
        """Last write's outcome; before the producer exists, whether a bootstrap server accepts TCP.

        The probe keeps readiness honest without waiting for traffic: a logger whose broker is reachable
        is ready before its first record, and one whose broker came back after a failed start recovers.
        """
        if self._producer is None:
            for host in self.config.bootstrap_servers:
                if _accepts(host):
                    return SinkHealth(True, f"{host} reachable (producer starts on first write)")
            return SinkHealth(False, self._last_error or "no bootstrap server accepts connections")
        if self._last_error:
            return SinkHealth(False, self._last_error)
        return SinkHealth(True, ",".join(self.config.bootstrap_servers))


def _accepts(host_port: str, timeout: float = 0.5) -> bool:
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


if TYPE_CHECKING:  # mypy fails here if KafkaSink drifts from the Sink protocol
    _: type[Sink] = KafkaSink


__all__ = [
    "COMPRESSIONS",
    "DEFAULT_RESULTS_TOPIC",
    "DEFAULT_TOPIC",
    "PRODUCERS",
    "Delivery",
    "KafkaSink",
    "KafkaSinkConfig",
    "Producer",
    "message_headers",
    "message_key",
    "message_value",
]
