"""Shared test fixtures. Dev-stack fixtures (real Kafka, Elasticsearch, OpenSearch, Prometheus) come
from ``devstack.pytest_plugin``; peer model servers from ``devstack.peers`` fixtures."""

pytest_plugins = ["devstack.pytest_plugin", "devstack.peers.pytest_fixtures"]
