"""The ``kafka://`` URI options, declared once for both producer clients (kafka-python and confluent-kafka).

Kept apart from ``inferwatch.sinks.kafka`` so the table (and ``inferwatch logger --help``) needs neither client
installed. ``KafkaSinkConfig.from_uri`` turns the parsed options into producer settings under kafka-python's
names; ``inferwatch.sinks.kafka_confluent`` maps those to librdkafka's.
"""

from __future__ import annotations

from inferwatch.sinks.options import Choice, File, Integer, Number, OptionalText, OptionTable, Text

DEFAULT_TOPIC = "inferwatch.records.{namespace}.{deployment}"
DEFAULT_RESULTS_TOPIC = "inferwatch.results.{namespace}.{deployment}"
COMPRESSIONS = ("gzip", "lz4", "zstd", "snappy", "none")
ACKS: dict[str, str | int] = {"all": "all", "-1": "all", "1": 1, "0": 0}
"""``acks=`` option → kafka-python's ``acks`` setting."""
PRODUCERS: dict[str, str] = {
    "kafka-python": "kafka:KafkaProducer",
    "confluent": "inferwatch.sinks.kafka_confluent:ConfluentProducer",
}
"""``client=`` option → producer class taking kafka-python's ``KafkaProducer`` keyword settings."""


class KafkaOptions(OptionTable):
    """``kafka://HOST:PORT[,HOST:PORT...]?topic=...&compression=...``: every option, its type, default and help."""

    usage = "kafka://HOST:PORT[,HOST:PORT...]"

    topic = Text(DEFAULT_TOPIC, "records' topic template")
    compression = Choice("gzip", COMPRESSIONS, "message compression")
    acks = Choice("all", ACKS, "broker acknowledgements; all = idempotent producer")
    linger_ms = Integer(20, "milliseconds a producer batch waits to fill")
    batch_size = Integer(256 * 1024, "bytes per partition batch", minimum=1)
    client_id = Text("inferwatch", "client id the brokers see")
    timeout = Number(30.0, "seconds a write may block: bootstrap, metadata, delivery", minimum=0.1)
    max_request_size = Integer(1024 * 1024, "largest request, in bytes", minimum=1024)
    security_protocol = OptionalText("PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
    sasl_mechanism = OptionalText("PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
    sasl_username = OptionalText("SASL user")
    sasl_password = OptionalText("SASL password")
    ssl_cafile = File("CA bundle (PEM) the brokers' certificates are checked against")
    ssl_certfile = File("client certificate (PEM)")
    ssl_keyfile = File("client private key (PEM)")
    client = Choice("kafka-python", PRODUCERS, "producer; confluent needs inferwatch[kafka-fast]")
    results_topic = Text(DEFAULT_RESULTS_TOPIC, "results' topic template, else topic's")

    def results_topic_template(self) -> str:
        """``results_topic``; when absent, ``topic`` if the URI names one (a ``--results-sink`` URI), else the
        default results topic — never the records topic's default, whose consumers expect records."""
        if self.is_set(KafkaOptions.results_topic) or not self.is_set(KafkaOptions.topic):
            return self.results_topic
        return self.topic

    def security(self) -> dict[str, str]:
        """The TLS/SASL options given, under kafka-python's ``KafkaProducer`` names (``sasl_plain_username``...)."""
        return security_settings(**{name: getattr(self, name) for name in SECURITY_OPTIONS})


SECURITY_OPTIONS = (
    "security_protocol",
    "sasl_mechanism",
    "sasl_username",
    "sasl_password",
    "ssl_cafile",
    "ssl_certfile",
    "ssl_keyfile",
)
"""The TLS/SASL options, named as users give them (``kafka://`` query options, ``inferwatch consume`` flags)."""


def security_settings(**options: str | None) -> dict[str, str]:
    """TLS/SASL options named as the ``kafka://`` sink names them (``sasl_username``...) under kafka-python's client
    setting names (``sasl_plain_username``...), absent ones left out: the sink and the consumers share them."""
    names = {"sasl_username": "sasl_plain_username", "sasl_password": "sasl_plain_password"}
    return {names.get(k, k): v for k, v in options.items() if v}


__all__ = [
    "ACKS",
    "COMPRESSIONS",
    "DEFAULT_RESULTS_TOPIC",
    "DEFAULT_TOPIC",
    "PRODUCERS",
    "SECURITY_OPTIONS",
    "KafkaOptions",
    "security_settings",
]
