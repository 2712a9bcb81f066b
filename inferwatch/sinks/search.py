"""Elasticsearch and OpenSearch sink: one implementation, the engine-specific calls chosen from ``ENGINES``.

URI: ``elasticsearch://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]?index=...`` (the same for ``opensearch://``);
every option, its type and default is declared once in ``inferwatch.sinks.search_options.SearchOptions`` (listed
by ``inferwatch logger --help``).

- **Index names** are Seldon's by default (``inference-log-seldon-prod-iris-default``; placeholders and
  fallbacks in ``inferwatch.sinks.naming``). The index template (``search_docs.template_body``, pattern =
  the literal prefix of ``index`` + ``*``, priority ``template_priority``) is installed, idempotently, on first
  connect (the first ``health`` probe or write); ``template=skip`` uses the templates already on the cluster.
  Another template over the same indices at the same priority blocks the sink (``SinkBlocked``) with the remedy
  named: ``template_priority=`` above it, or ``template=skip``.
- **Documents**: ``search_docs.documents``; ``_id`` = request id, or ``<id>-item-<i>`` per instance of a
  batch, written with the ``update`` op and ``doc_as_upsert``: a retried or replayed batch rewrites the same
  document, never duplicates, and keeps the detector/explainer results already merged into it.
  ``merge=false`` writes records with the plain ``index`` op instead (cheaper for the engine; only for
  indices no result is ever merged into: a result that arrived first would be wiped).
- **Results** (``ResultRecord``): one with a request id is a bulk ``update`` of its request's document
  (``{"doc": {kind: result}, "upsert": envelope + result}``), in the index its record goes to, whichever of
  the two arrives first. One without (a closed drift window) is indexed into ``drift_index``
  (``drift-log-<namespace>-<deployment>`` by default, its own index template), ``_id`` = the result id.
  Updates retry version conflicts (``retry_on_conflict``) and a remaining 409 is retriable.
- **Bulk**: the client's ``streaming_bulk`` with ``max_retries``/``initial_backoff`` on 429, per-item
  results checked and mapped back to their records: ``write`` raises ``RecordsRejected`` naming the records whose
  documents failed (``inferwatch.sinks.search_refusals``): 429/5xx/connection errors are retried, a refusal a
  person fixes (read-only index, missing index with auto-creation off, 401/403, an index whose mapping is not
  inferwatch's) blocks the sink while its records wait in the spool, and a document refused for its own values
  (or a record that cannot be serialised) is written again in a smaller form by the worker. No refresh is
  requested per write.
- Only core APIs are used (bulk, composable index templates, cluster health): the dev-stack core
  Elasticsearch node has no ``GET /``, ingest pipelines or ILM.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inferwatch import jsonenc
from inferwatch.errors import ConfigError
from inferwatch.results import Record, ResultRecord
from inferwatch.sinks.base import Sink, SinkHealth, SinkURI
from inferwatch.sinks.failures import RecordFailure, RecordsRejected, Refusal, SinkBlocked
from inferwatch.sinks.naming import NameTemplate, clean_index, index_template
from inferwatch.sinks.options import parse_hosts
from inferwatch.sinks.search_docs import (
    documents,
    drift_template_body,
    result_document,
    result_fields,
    result_upsert,
    template_body,
)
from inferwatch.sinks.search_options import SearchOptions
from inferwatch.sinks.search_owners import DocumentOwners
from inferwatch.sinks.search_refusals import item_failure, request_error, template_error

RETRY_ON_CONFLICT = 5
_HEALTHY = ("green", "yellow")


@dataclass(frozen=True)
class SearchSinkConfig:
    """Connection, naming and bulk settings parsed from an ``elasticsearch://``/``opensearch://`` URI (defaults:
    ``SearchOptions``)."""

    engine: str
    hosts: list[str]
    scheme: str = SearchOptions.scheme.default
    username: str | None = None
    password: str | None = None
    api_key: str | None = None
    ca_certs: str | None = None
    verify_certs: bool = SearchOptions.verify_certs.default
    client_cert: str | None = None
    client_key: str | None = None
    index: str = SearchOptions.index.default
    install_template: bool = True
    """``template=install`` (default) or ``skip``: use the index templates already on the cluster."""
    template_name: str | None = None
    template_priority: int = SearchOptions.template_priority.default
    shards: int = SearchOptions.shards.default
    replicas: int = SearchOptions.replicas.default
    total_fields_limit: int = SearchOptions.total_fields_limit.default
    chunk_size: int = SearchOptions.chunk_size.default
    max_retries: int = SearchOptions.max_retries.default
    initial_backoff: float = SearchOptions.initial_backoff.default
    max_backoff: float = SearchOptions.max_backoff.default
    request_timeout: float = SearchOptions.request_timeout.default
    bodies: str = SearchOptions.bodies.default
    drift_index: str = SearchOptions.drift_index.default
    merge: bool = SearchOptions.merge.default
    """Records as ``update``+``doc_as_upsert`` (keeps merged results) rather than ``index``."""

    @classmethod
    def from_uri(cls, uri: SinkURI) -> SearchSinkConfig:
        opts = SearchOptions.parse(uri)
        hosts = parse_hosts(uri, 9200)
        tls = {"ca_certs": opts.ca_certs, "client_cert": opts.client_cert, "client_key": opts.client_key}
        if opts.scheme == "http" and any(tls.values()):
            raise ConfigError(f"{uri.scheme}:// options {', '.join(k for k, v in tls.items() if v)} need scheme=https")
        return cls(
            engine=uri.scheme,
            hosts=hosts.hosts,
            scheme=opts.scheme,
            username=opts.username or hosts.username,
            password=opts.password or hosts.password,
            api_key=opts.api_key,
            ca_certs=opts.ca_certs,
            verify_certs=opts.verify_certs,
            client_cert=opts.client_cert,
            client_key=opts.client_key,
            index=opts.index,
            install_template=opts.template == "install",
            template_name=opts.template_name,
            template_priority=opts.template_priority,
            shards=opts.shards,
            replicas=opts.replicas,
            total_fields_limit=opts.total_fields_limit,
            chunk_size=opts.chunk_size,
            max_retries=opts.max_retries,
            initial_backoff=opts.initial_backoff,
            max_backoff=opts.max_backoff,
            request_timeout=opts.request_timeout,
            bodies=opts.bodies,
            drift_index=opts.drift_index,
            merge=opts.merge,
        )

    @property
    def urls(self) -> list[str]:
        return [f"{self.scheme}://{h}" for h in self.hosts]


# --- the engine table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Engine:
    """What differs between Elasticsearch and OpenSearch: client, flattened type, two call shapes."""

    flat_type: str
    connect: Callable[[SearchSinkConfig], Any]
    streaming_bulk: Callable[[], Callable[..., Iterable[tuple[bool, dict[str, Any]]]]]
    put_template: Callable[[Any, str, dict[str, Any]], None]
    health: Callable[[Any, float], Any]
    errors: Callable[[], tuple[type[Exception], ...]]


def _es_connect(cfg: SearchSinkConfig) -> Any:
    from elasticsearch import Elasticsearch
    from elasticsearch.serializer import OrjsonSerializer

    class Serializer(OrjsonSerializer):
        """The client's orjson serializer writing ``inferwatch.jsonenc`` (one JSON encoding for every document)."""

        def json_dumps(self, data: Any) -> bytes:
            return jsonenc.dumps(data)

    kw: dict[str, Any] = {"request_timeout": cfg.request_timeout, "max_retries": 2, "retry_on_timeout": True}
    if cfg.username:
        kw["basic_auth"] = (cfg.username, cfg.password or "")
    if cfg.api_key:
        kw["api_key"] = cfg.api_key
    if cfg.scheme == "https":
        kw.update(verify_certs=cfg.verify_certs, ca_certs=cfg.ca_certs)
        kw.update(client_cert=cfg.client_cert, client_key=cfg.client_key)
    return Elasticsearch(cfg.urls, serializer=Serializer(), **kw)


def _es_bulk() -> Callable[..., Iterable[tuple[bool, dict[str, Any]]]]:
    from elasticsearch.helpers import streaming_bulk

    return streaming_bulk


def _es_put_template(client: Any, name: str, body: dict[str, Any]) -> None:
    client.indices.put_index_template(
        name=name,
        index_patterns=body["index_patterns"],
        template=body["template"],
        priority=body["priority"],
        meta=body["_meta"],
    )


def _es_errors() -> tuple[type[Exception], ...]:
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    return (ApiError, TransportError)


def _os_connect(cfg: SearchSinkConfig) -> Any:
    from opensearchpy import OpenSearch
    from opensearchpy.serializer import JSONSerializer

    class Serializer(JSONSerializer):
        """The stock serializer writing ``inferwatch.jsonenc`` (orjson: bulk bodies are mostly serialisation)."""

        def dumps(self, data: Any) -> Any:
            if isinstance(data, str | bytes):
                return data
            return jsonenc.dumps(data).decode()

    if cfg.api_key:
        raise ConfigError("opensearch:// has no api_key authentication; use username and password")
    kw: dict[str, Any] = {"timeout": cfg.request_timeout, "max_retries": 2, "retry_on_timeout": True}
    if cfg.username:
        kw["http_auth"] = (cfg.username, cfg.password or "")
    if cfg.scheme == "https":
        kw.update(use_ssl=True, verify_certs=cfg.verify_certs, ca_certs=cfg.ca_certs)
        kw.update(client_cert=cfg.client_cert, client_key=cfg.client_key)
    return OpenSearch(hosts=cfg.urls, serializer=Serializer(), **kw)


def _os_bulk() -> Callable[..., Iterable[tuple[bool, dict[str, Any]]]]:
    from opensearchpy.helpers import streaming_bulk

    return streaming_bulk


def _os_put_template(client: Any, name: str, body: dict[str, Any]) -> None:
    client.indices.put_index_template(name=name, body=body)


def _os_errors() -> tuple[type[Exception], ...]:
    from opensearchpy.exceptions import TransportError

    return (TransportError,)


ENGINES: dict[str, Engine] = {
    "elasticsearch": Engine(
        "flattened",
        _es_connect,
        _es_bulk,
        _es_put_template,
        lambda c, t: c.options(request_timeout=t).cluster.health(),
        _es_errors,
    ),
    "opensearch": Engine(
        "flat_object",
        _os_connect,
        _os_bulk,
        _os_put_template,
        lambda c, t: c.cluster.health(params={"request_timeout": t}),
        _os_errors,
    ),
}


def connect(config: SearchSinkConfig) -> tuple[Engine, Any]:
    """The engine entry of ``config`` and a client for it: the one place a search client is built (the sink writes
    through it, ``inferwatch.stores.search`` reads). ``ConfigError`` for an unknown engine or a missing client."""
    engine = ENGINES.get(config.engine)
    if engine is None:
        raise ConfigError(f"unknown search engine {config.engine!r}; use one of {', '.join(ENGINES)}")
    try:
        return engine, engine.connect(config)
    except ImportError as e:
        raise ConfigError(
            f"{config.engine}:// needs its client ({e.name}): pip install 'inferwatch[{config.engine}]'"
        ) from e


def index_pattern(indices: NameTemplate) -> str:
    """The pattern of every index a name template renders to (its literal prefix + ``*``): what the index
    template covers and what readers search."""
    return indices.literal_prefix + "*"


# --- the sink ------------------------------------------------------------------------------------------


class SearchSink:
    """Bulk-indexes records into Elasticsearch or OpenSearch (see module doc)."""

    def __init__(self, config: SearchSinkConfig, name: str | None = None) -> None:
        self.name = name or config.engine
        self.config = config
        self.indices: NameTemplate = index_template(config.index)
        prefix = self.indices.literal_prefix
        self.index_pattern = index_pattern(self.indices)
        self.template_name = config.template_name or "inferwatch-" + (clean_index(prefix) or "records")
        self.drift_indices: NameTemplate = index_template(config.drift_index)
        drift_prefix = self.drift_indices.literal_prefix
        if drift_prefix.startswith(prefix) or prefix.startswith(drift_prefix):
            raise ConfigError(
                f"{config.engine}:// drift_index {config.drift_index!r} and index {config.index!r} need distinct "
                "literal prefixes (each has its own index template)"
            )
        self.drift_pattern = index_pattern(self.drift_indices)
        self.drift_template_name = "inferwatch-" + clean_index(drift_prefix)
        self.engine, self.client = connect(config)
        self._errors = self.engine.errors()
        self._bulk = self.engine.streaming_bulk()
        self._template_lock = threading.Lock()
        self._template_ready = False
        self._drift_template_ready = False

    @classmethod
    def from_uri(cls, uri: SinkURI) -> SearchSink:
        return cls(SearchSinkConfig.from_uri(uri))

    def index_for(self, record: Record) -> str:
        """The index of a record, or of the request document a result merges into; drift: the drift index."""
        if isinstance(record, ResultRecord) and record.request_id is None:
            return self.drift_indices.render(record)
        return self.indices.render(record)

    def template(self) -> dict[str, Any]:
        """The composable index template this sink installs."""
        cfg = self.config
        return {
            "index_patterns": [self.index_pattern],
            "priority": cfg.template_priority,
            "template": template_body(
                self.engine.flat_type, shards=cfg.shards, replicas=cfg.replicas, total_fields=cfg.total_fields_limit
            ),
            "_meta": {"managed_by": "inferwatch", "index": cfg.index},
        }

    def drift_template(self) -> dict[str, Any]:
        """The composable index template of the drift index."""
        cfg = self.config
        return {
            "index_patterns": [self.drift_pattern],
            "priority": cfg.template_priority,
            "template": drift_template_body(
                shards=cfg.shards, replicas=cfg.replicas, total_fields=cfg.total_fields_limit
            ),
            "_meta": {"managed_by": "inferwatch", "index": cfg.drift_index},
        }

    def ensure_template(self, drift: bool = False) -> None:
        """Install the index template once per sink (PUT is idempotent: a restart simply re-puts it); the drift
        index's template too once a drift result is written (``drift``). ``SinkBlocked`` for a refusal a person
        fixes (``search_refusals.template_error``); nothing to do with ``template=skip``."""
        if not self.config.install_template:
            return
        with self._template_lock:
            todo = [] if self._template_ready else [(self.template_name, self.index_pattern, self.template)]
            if drift and not self._drift_template_ready:
                todo.append((self.drift_template_name, self.drift_pattern, self.drift_template))
            for name, pattern, body in todo:
                try:
                    self.engine.put_template(self.client, name, body())
                except self._errors as e:
                    raise template_error(self.name, e, name, pattern) from e
            self._template_ready = True
            self._drift_template_ready = self._drift_template_ready or drift

    def actions(self, records: Sequence[Record]) -> Iterator[dict[str, Any]]:
        """The bulk actions of ``records`` (``TypeError`` for a record that cannot be serialised)."""
        for r in records:
            yield from self.record_actions(r)

    def record_actions(self, r: Record) -> list[dict[str, Any]]:
        """The bulk actions of one record: one per document, or one merging a result into its request's."""
        index = self.index_for(r)
        if isinstance(r, ResultRecord):
            return [self._result_action(index, r)]
        out = []
        for doc_id, doc in documents(r, self.config.bodies):
            if self.config.merge:
                out.append({**self._update(index, doc_id), "_source": {"doc": doc, "doc_as_upsert": True}})
            else:
                out.append({"_op_type": "index", "_index": index, "_id": doc_id, "_source": doc})
        return out

    def _result_action(self, index: str, r: ResultRecord) -> dict[str, Any]:
        doc_id = r.document_id
        if doc_id is None:
            return {"_op_type": "index", "_index": index, "_id": r.id, "_source": result_document(r)}
        return {**self._update(index, doc_id), "_source": {"doc": result_fields(r), "upsert": result_upsert(r)}}

    @staticmethod
    def _update(index: str, doc_id: str) -> dict[str, Any]:
        return {"_op_type": "update", "_index": index, "_id": doc_id, "retry_on_conflict": RETRY_ON_CONFLICT}

    def write(self, records: Sequence[Record]) -> None:
        """Index ``records``; ``RecordsRejected`` names those whose documents were refused (module doc)."""
        self.ensure_template(drift=any(isinstance(r, ResultRecord) and r.request_id is None for r in records))
        actions: list[dict[str, Any]] = []
        owners = DocumentOwners()
        failures: dict[int, RecordFailure] = {}
        for pos, r in enumerate(records):
            try:
                mine = self.record_actions(r)
            except TypeError as e:
                failures[pos] = RecordFailure(pos, Refusal.RECORD, "unserialisable", f"record {r.id}: {e}")
                continue
            actions.extend(mine)
            owners.add(pos, mine)
        for item in self._bulk_items(actions, owners):
            for failure in self._failures(item, owners):
                known = failures.get(failure.position)
                if known is None or _RANK[failure.refusal] > _RANK[known.refusal]:
                    failures[failure.position] = failure
        if failures:
            raise RecordsRejected(self.name, [failures[p] for p in sorted(failures)], len(records))

    def _bulk_items(self, actions: list[dict[str, Any]], owners: DocumentOwners) -> list[dict[str, Any]]:
        """Send ``actions``; the results of the items that failed (``owners`` learns which indices took some)."""
        cfg = self.config
        refused: list[dict[str, Any]] = []
        if not actions:
            return refused
        try:
            for ok, item in self._bulk(
                self.client,
                actions,
                chunk_size=cfg.chunk_size,
                max_retries=cfg.max_retries,
                initial_backoff=cfg.initial_backoff,
                max_backoff=cfg.max_backoff,
                raise_on_error=False,
                raise_on_exception=False,
                yield_ok=True,
            ):
                result = next(iter(item.values()))
                if ok:
                    owners.took(str(result.get("_index")))
                else:
                    refused.append(result)
        except self._errors as e:  # connection errors are not turned into per-item failures by the helper
            raise request_error(self.name, e, self.index_pattern) from e
        return refused

    def _failures(self, item: dict[str, Any], owners: DocumentOwners) -> list[RecordFailure]:
        """The failures of the records behind a refused bulk ``item``; one that cannot be placed (never seen) has
        every record written again (rewriting is safe)."""
        positions = owners.positions(item)
        if positions:
            return [item_failure(p, item, lambda index: self._owned(index, owners)) for p in positions]
        what = f"a refused document that matches no record: {item}"
        return [RecordFailure(p, Refusal.RETRY, "unplaced", what) for p in owners.all()]

    def _owned(self, index: str, owners: DocumentOwners) -> bool:
        """Whether a mapping refusal in ``index`` is the document's fault: the index took other documents of this
        write, or was created from inferwatch's template (its mapping's ``_meta``; asked once per write). Unknown:
        assume it was."""
        if owners.took_any(index):
            return True
        if index not in owners.owned:
            try:
                mapping = self.client.indices.get_mapping(index=index)
            except self._errors:
                mapping = None
            metas = [((m or {}).get("mappings") or {}).get("_meta") or {} for m in dict(mapping or {}).values()]
            owners.owned[index] = mapping is None or all(m.get("created_by") == "inferwatch" for m in metas)
        return owners.owned[index]

    def flush(self) -> None:
        """Every ``write`` returns once the engine has acknowledged the batch; nothing is buffered here."""

    def close(self) -> None:
        self.client.close()

    def health(self) -> SinkHealth:
        """Cluster health; on first connect also the index template, so a conflict shows before any record."""
        try:
            body = self.engine.health(self.client, min(self.config.request_timeout, 5.0))
        except Exception as e:  # a probe reports, never raises
            return SinkHealth(False, f"cluster health failed: {e}")
        status = body.get("status")
        if status in _HEALTHY and not self._template_ready:
            try:
                self.ensure_template()
            except SinkBlocked as e:
                return SinkHealth(False, f"blocked ({e.block.reason}): {e.block.describe()}")
            except Exception as e:  # a probe reports, never raises
                return SinkHealth(False, f"index template not installed yet: {e}")
        return SinkHealth(status in _HEALTHY, f"cluster {body.get('cluster_name')} is {status}")


_RANK = {Refusal.RECORD: 0, Refusal.RETRY: 1, Refusal.BLOCKED: 2}
"""When a record's documents fail differently, the failure that keeps it wins."""


if TYPE_CHECKING:  # mypy fails here if SearchSink drifts from the Sink protocol
    _: type[Sink] = SearchSink
