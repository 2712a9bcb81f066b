"""The dev-stack services, by name: ``name -> "module:Class"``, imported only when used.

Adding a service is one file (a ``devstack.base.Service`` subclass) and one row here. The order is the
start order of ``inferwatch devstack up``; ``down`` goes in reverse.
"""

from __future__ import annotations

SERVICES: dict[str, str] = {
    "kafka": "devstack.kafka:KafkaService",
    "elasticsearch": "devstack.elasticsearch:ElasticsearchService",
    "opensearch": "devstack.opensearch:OpenSearchService",
    "prometheus": "devstack.prometheus:PrometheusService",
}
