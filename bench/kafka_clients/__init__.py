"""``python -m bench.kafka_clients``: CPU and wall time per message of the Kafka sink on kafka-python vs
confluent-kafka (librdkafka), through ``KafkaSink.write`` (acks=all, idempotent) against a real broker."""
