"""What a Kafka error about one message means for its record (``inferwatch.sinks.failures``).

Both producer clients raise kafka-python's error classes (``kafka_confluent.as_kafka_error`` maps librdkafka's):

- retriable errors and timeouts: ``RETRY``;
- ``MessageSizeTooLargeError`` / ``RecordListTooLargeError``: ``RECORD`` (``too_large``): written again smaller;
- authorization and authentication failures: ``BLOCKED`` (``auth``), with what to grant;
- anything else the broker refuses for good (an invalid record...): ``RECORD``, named after the error.
"""

from __future__ import annotations

from kafka.errors import (
    AuthorizationError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    SaslAuthenticationFailedError,
)

from inferwatch.sinks.failures import Block, RecordFailure, Refusal

TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError)
AUTH = (AuthorizationError, SaslAuthenticationFailedError)


def retriable(e: BaseException) -> bool:
    """Whether trying the same message again may succeed."""
    return bool(getattr(e, "retriable", False)) or isinstance(e, KafkaTimeoutError)


def auth_block(e: BaseException, topic: str) -> Block:
    """The brokers refuse the sink's principal: what to grant or fix."""
    return Block(
        "auth",
        f"the brokers refuse to let the sink write to {topic}: {type(e).__name__}: {e}",
        f"grant the sink's principal Write and Describe on topic {topic} (and IdempotentWrite on the cluster with "
        "acks=all), or fix its credentials (sasl_username/sasl_password, ssl_certfile/ssl_keyfile)",
    )


def failure(position: int, record_id: str, topic: str, e: BaseException) -> RecordFailure:
    """The ``RecordFailure`` of the message of ``record_id`` that ``topic`` did not take because of ``e``."""
    what = f"record {record_id} to {topic}: {type(e).__name__}: {e}"
    if isinstance(e, AUTH):
        return RecordFailure(position, Refusal.BLOCKED, "auth", what, auth_block(e, topic))
    if isinstance(e, TOO_LARGE):
        return RecordFailure(position, Refusal.RECORD, "too_large", what)
    if retriable(e):
        return RecordFailure(position, Refusal.RETRY, type(e).__name__, what)
    return RecordFailure(position, Refusal.RECORD, type(e).__name__, what)


__all__ = ["AUTH", "TOO_LARGE", "auth_block", "failure", "retriable"]
