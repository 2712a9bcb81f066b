"""Shared test fixtures. Dev-stack fixtures (real Kafka, Elasticsearch, OpenSearch, Prometheus) come
from ``devstack.pytest_plugin``; peer model servers from ``devstack.peers`` fixtures."""

from inferwatch import tf_env

pytest_plugins = ["devstack.pytest_plugin", "devstack.peers.pytest_fixtures"]

# Before anything imports TensorFlow (alibi and alibi-detect do on import): tf.keras is tf-keras, which
# alibi-detect's legacy save format for Keras models (ae, vae, adversarial-ae) needs.
tf_env.use_legacy_keras()
