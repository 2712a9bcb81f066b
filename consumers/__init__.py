"""Kafka consumer services that read the logger's topics (index to search engines, replay, dead letters).

They build on the shared consumer-group source ``inferwatch.sources.kafka``. A detector's own Kafka mode
(``inferwatch detector consume``) is a transport of the detector service: ``inferwatch.detectors.consume``.
"""
