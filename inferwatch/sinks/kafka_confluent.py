"""confluent-kafka (librdkafka) behind the Kafka sink: ``kafka://...?client=confluent``.

``ConfluentProducer`` takes the same keyword settings as kafka-python's ``KafkaProducer`` (what
``KafkaSinkConfig.producer_config`` builds), maps them to librdkafka's names, and offers the three calls
``KafkaSink`` makes: ``send`` (returning a future with ``succeeded()`` / ``exception``), ``flush(timeout)``
and ``close(timeout)``. librdkafka's errors are turned into kafka-python error classes (a ``retriable`` flag,
``MessageSizeTooLargeError``, ``KafkaTimeoutError``...) so the sink's delivery, retry and error reporting stay
one piece of code for both clients.

librdkafka connects in the background; to fail like kafka-python on a dead broker, the constructor waits for
one metadata answer (``list_topics``) within ``bootstrap_timeout_ms`` and raises ``KafkaConnectionError``
otherwise. Needs ``pip install 'inferwatch[kafka-fast]'``.

The ``kafka://`` URI options are the same for both clients, declared once in
``inferwatch.sinks.kafka_options.KafkaOptions``; only the mapping of kafka-python's setting names to librdkafka's
(``_NAMES``) lives here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException, Message, Producer
from kafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    SaslAuthenticationFailedError,
    TopicAuthorizationFailedError,
)

log = logging.getLogger(__name__)

_NAMES: dict[str, str] = {
    "client_id": "client.id",
    "enable_idempotence": "enable.idempotence",
    "linger_ms": "linger.ms",
    "batch_size": "batch.size",
    "max_request_size": "message.max.bytes",
    "request_timeout_ms": "request.timeout.ms",
    "delivery_timeout_ms": "message.timeout.ms",
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanism",
    "sasl_plain_username": "sasl.username",
    "sasl_plain_password": "sasl.password",
    "ssl_cafile": "ssl.ca.location",
    "ssl_certfile": "ssl.certificate.location",
    "ssl_keyfile": "ssl.key.location",
}
"""kafka-python setting → librdkafka property (values passed as they are)."""
_LOCAL = frozenset({"bootstrap_timeout_ms", "max_block_ms"})
"""Settings the adapter applies itself (metadata wait at start, wait for queue space in ``send``)."""

_TRANSIENT = frozenset(
    {
        RdKafkaError._MSG_TIMED_OUT,
        RdKafkaError._TIMED_OUT,
        RdKafkaError._TRANSPORT,
        RdKafkaError._ALL_BROKERS_DOWN,
        RdKafkaError._QUEUE_FULL,
        RdKafkaError._PURGE_QUEUE,
        RdKafkaError._PURGE_INFLIGHT,
        RdKafkaError.REQUEST_TIMED_OUT,
        RdKafkaError.NOT_ENOUGH_REPLICAS,
        RdKafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        RdKafkaError.LEADER_NOT_AVAILABLE,
        RdKafkaError.NOT_LEADER_FOR_PARTITION,
        RdKafkaError.BROKER_NOT_AVAILABLE,
    }
)
"""Codes worth retrying even when librdkafka does not flag them retriable (broker down, timeouts, purge)."""
_TOO_LARGE = frozenset({RdKafkaError.MSG_SIZE_TOO_LARGE, RdKafkaError.INVALID_MSG_SIZE})
_AUTH: dict[int, type[KafkaError]] = {
    RdKafkaError.TOPIC_AUTHORIZATION_FAILED: TopicAuthorizationFailedError,
    RdKafkaError.CLUSTER_AUTHORIZATION_FAILED: ClusterAuthorizationFailedError,
    RdKafkaError.SASL_AUTHENTICATION_FAILED: SaslAuthenticationFailedError,
    RdKafkaError._AUTHENTICATION: SaslAuthenticationFailedError,
}
"""Refusals a person fixes (grant, credentials): the Kafka sink blocks rather than drops on them."""


class ConfluentDeliveryError(KafkaError):  # type: ignore[misc]
    """A librdkafka error as the Kafka sink sees it: its code name, message and whether to retry."""

    def __init__(self, error: RdKafkaError) -> None:
        super().__init__(f"{error.name()}: {error.str()}")
        self.retriable = bool(error.retriable()) or error.code() in _TRANSIENT


def as_kafka_error(error: RdKafkaError) -> KafkaError:
    """The kafka-python error that stands for librdkafka's ``error``."""
    if error.code() in _TOO_LARGE:
        return MessageSizeTooLargeError(error.str())
    if error.code() in (RdKafkaError._MSG_TIMED_OUT, RdKafkaError._TIMED_OUT):
        return KafkaTimeoutError(error.str())
    if error.code() in _AUTH:
        return _AUTH[error.code()](error.str())
    return ConfluentDeliveryError(error)


def librdkafka_config(settings: dict[str, Any]) -> dict[str, Any]:
    """librdkafka properties for kafka-python ``KafkaProducer`` keyword ``settings``."""
    unknown = sorted(set(settings) - set(_NAMES) - _LOCAL - {"bootstrap_servers", "acks", "compression_type"})
    if unknown:
        raise ValueError(f"no librdkafka equivalent for {', '.join(unknown)}")
    conf: dict[str, Any] = {_NAMES[k]: v for k, v in settings.items() if k in _NAMES}
    servers = settings["bootstrap_servers"]
    conf["bootstrap.servers"] = servers if isinstance(servers, str) else ",".join(servers)
    conf["acks"] = str(settings.get("acks", "all"))
    conf["compression.type"] = settings.get("compression_type") or "none"
    conf["logger"] = log  # librdkafka's log lines go to logging (served by poll/flush), not to stderr
    return conf


class DeliveryFuture:
    """The outcome of one ``send``, set by librdkafka's delivery report (served by ``poll``/``flush``)."""

    __slots__ = ("done", "exception")

    def __init__(self) -> None:
        self.done = False
        self.exception: KafkaError | None = None

    def succeeded(self) -> bool:
        return self.done and self.exception is None

    def failure(self, error: KafkaError) -> DeliveryFuture:
        self.done, self.exception = True, error
        return self

    def on_delivery(self, error: RdKafkaError | None, _msg: Message) -> None:
        if error is None:
            self.done = True
        else:
            self.failure(as_kafka_error(error))


class ConfluentProducer:
    """The part of kafka-python's ``KafkaProducer`` the Kafka sink uses, on librdkafka."""

    def __init__(self, **settings: Any) -> None:
        self._max_block = settings.get("max_block_ms", 60_000) / 1000
        try:
            self._producer = Producer(librdkafka_config(settings))
        except KafkaException as e:  # a property librdkafka refuses (bad TLS/SASL settings...)
            raise ValueError(str(e.args[0].str() if e.args else e)) from e
        bootstrap_timeout = settings.get("bootstrap_timeout_ms", 30_000) / 1000
        try:
            self._producer.list_topics(timeout=bootstrap_timeout)
        except KafkaException as e:
            self._drop()
            error = e.args[0] if e.args and isinstance(e.args[0], RdKafkaError) else None
            if error is not None and error.code() in _AUTH:
                raise as_kafka_error(error) from e
            raise KafkaConnectionError(f"no metadata within {bootstrap_timeout:g}s: {e}") from e

    def send(
        self, topic: str, *, key: bytes, value: bytes, headers: Sequence[tuple[str, str | bytes | None]]
    ) -> DeliveryFuture:
        """Queue one message; a full local queue is waited on for up to ``max_block_ms``."""
        future = DeliveryFuture()
        deadline = None
        headers = headers if isinstance(headers, list) else list(headers)  # what librdkafka takes
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers, on_delivery=future.on_delivery)
                return future
            except BufferError as e:
                deadline = deadline or time.monotonic() + self._max_block
                if time.monotonic() >= deadline:
                    raise KafkaTimeoutError(f"local queue full for {self._max_block:g}s") from e
                self._producer.poll(0.05)  # serves delivery reports, which frees queue space
            except KafkaException as e:  # refused before sending, e.g. larger than message.max.bytes
                raise as_kafka_error(e.args[0]) from e

    def flush(self, timeout: float | None = None) -> None:
        """Wait for every delivery report; ``KafkaTimeoutError`` if some are still pending after ``timeout``."""
        left = self._producer.flush(-1 if timeout is None else timeout)
        if left:
            raise KafkaTimeoutError(f"{left} messages not delivered after {timeout}s")

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued (up to ``timeout`` seconds), then drop whatever is left."""
        if timeout:
            self._producer.flush(timeout)
        self._drop()

    def _drop(self) -> None:
        self._producer.purge(in_queue=True, in_flight=True, blocking=False)
        self._producer.poll(0)  # fire the purge reports so pending futures fail now


if TYPE_CHECKING:  # mypy fails here if ConfluentProducer drifts from what KafkaSink calls
    from inferwatch.sinks.kafka import Producer as SinkProducer

    _: type[SinkProducer] = ConfluentProducer


__all__ = ["ConfluentDeliveryError", "ConfluentProducer", "DeliveryFuture", "as_kafka_error", "librdkafka_config"]
