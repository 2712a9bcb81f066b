"""The ``elasticsearch://`` / ``opensearch://`` URI options, declared once for both engines.

Kept apart from ``inferwatch.sinks.search`` so the table (and ``inferwatch logger --help``) is read without
touching the sink; ``SearchSinkConfig.from_uri`` builds the sink's settings from it.
"""

from __future__ import annotations

from inferwatch.sinks.options import Choice, File, Flag, Integer, Number, OptionalText, OptionTable, Text
from inferwatch.sinks.search_docs import BODIES

DEFAULT_INDEX = "inference-log-{engine}-{namespace}-{deployment}-{endpoint}"
DEFAULT_DRIFT_INDEX = "drift-log-{namespace}-{deployment}"


class SearchOptions(OptionTable):
    """``elasticsearch://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]?index=...``: every option, its type, default
    and help (the same for ``opensearch://``)."""

    usage = "elasticsearch|opensearch://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]"

    index = Text(DEFAULT_INDEX, "records' index template")
    scheme = Choice("http", ("http", "https"), "how to reach the nodes; the TLS options need https")
    username = OptionalText("basic-auth user (or USER:PASSWORD@ in the URI)")
    password = OptionalText("basic-auth password")
    api_key = OptionalText("API key (Elasticsearch only)")
    ca_certs = File("CA bundle (PEM) the nodes' certificates are checked against")
    verify_certs = Flag(True, "check the nodes' certificates")
    client_cert = File("client certificate (PEM)")
    client_key = File("client private key (PEM)")
    chunk_size = Integer(500, "documents per bulk request", minimum=1)
    max_retries = Integer(5, "retries of documents refused with 429")
    initial_backoff = Number(0.5, "seconds before the first 429 retry, doubled each time")
    max_backoff = Number(10.0, "longest wait between 429 retries, in seconds")
    request_timeout = Number(30.0, "seconds per request", minimum=0.1)
    bodies = Choice("first", BODIES, "documents of a batch that carry the bodies")
    template = Choice(
        "install", ("install", "skip"), "install inferwatch's index templates, or skip: use those on the cluster"
    )
    template_name = OptionalText("index template name (default: inferwatch-<index prefix>)")
    template_priority = Integer(100, "priority of the index templates; higher than another's over the same indices")
    shards = Integer(1, "primary shards of new indices", minimum=1)
    replicas = Integer(0, "replicas of new indices")
    total_fields_limit = Integer(500, "mapping fields allowed per index", minimum=100)
    drift_index = Text(DEFAULT_DRIFT_INDEX, "closed drift windows' index template")
    merge = Flag(True, "upsert records so merged results stay (false: index op)")


__all__ = ["DEFAULT_DRIFT_INDEX", "DEFAULT_INDEX", "SearchOptions"]
