"""``python -m bench.consumers``: ``inferwatch consume index`` against ``elasticsearch.helpers.parallel_bulk`` and
``streaming_bulk`` (docs/s, CPU per document), and the logger sidecar's CPU per request with the Kafka sink alone
vs Kafka + Elasticsearch."""
