"""The three ways of getting the topic's records into a fresh index, each timed in this process.

Every variant reads the same topic from the start with its own consumer group (``inferwatch.sources.kafka
.group_consumer``, ``max_poll_records`` = the batch, the same client the indexer uses), decodes every message with
the consumers' ``MessageDecoder`` and builds the bulk actions with ``SearchSink.record_actions`` of a sink opened
from the same ``elasticsearch://`` URI (so the same documents, ids and ``update``/``doc_as_upsert`` ops), and sends
them through that sink's client (the same connection settings and orjson serializer). Kafka reading, decoding and
document building are thus included identically; only the way batches reach the node differs:

- ``indexer``: ``inferwatch.consumers.service.IndexService`` (what ``inferwatch consume index`` runs, minus its
  admin web server): poll a batch -> ``SearchSink.write`` (``streaming_bulk``, per-item results mapped back to
  records) -> commit the offsets -> next poll. One bulk in flight, Kafka and the node take turns.
- ``parallel_bulk``: ``elasticsearch.helpers.parallel_bulk`` over a generator of the actions (defaults:
  ``thread_count`` 4, ``chunk_size`` 500): up to 4 bulks in flight while the main thread keeps reading. Commits
  nothing.
- ``streaming_bulk``: ``elasticsearch.helpers.streaming_bulk`` over the same generator (``chunk_size`` 500), one
  bulk in flight. Commits nothing.

Timing starts before the first poll (the consumer exists, the group is not joined yet) and ends when the node has
acknowledged every document; CPU is ``time.process_time`` (every thread of this process) over the same window.
The index template is installed before the clock starts. Afterwards the index is refreshed and counted.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bench.consumers.report import INDEXER, PARALLEL_BULK, STREAMING_BULK, Run
from bench.logger.procs import cpu_seconds
from inferwatch.consumers.service import IndexService, build_parts
from inferwatch.consumers.settings import IndexSettings
from inferwatch.sinks.search import SearchSink
from inferwatch.sources.kafka import group_consumer
from inferwatch.sources.messages import Message

IDLE_TIMEOUT = 60.0
"""Seconds without a new message (or a handled one, for the indexer) after which a run gives up."""


class RunFailed(RuntimeError):
    """A variant could not read or index the whole topic."""


@dataclass(frozen=True)
class Setup:
    """What every run of one benchmark shares."""

    bootstrap: str
    elasticsearch: str
    topic: str
    records: int
    batch: int = 500
    prefix: str = "bench-consumers"
    node_pid: int | None = None
    sink_options: str = ""
    """Extra ``elasticsearch://`` query options for every variant's sink, e.g. ``chunk_size=2000``."""

    def settings(self, variant: str, rep: int) -> IndexSettings:
        """A fresh group and a fresh index for one run (the index named after the run)."""
        run = f"{variant.replace('_', '-')}-{rep}-{uuid.uuid4().hex[:6]}"
        extra = f"&{self.sink_options}" if self.sink_options else ""
        return IndexSettings(
            bootstrap=self.bootstrap,
            topic=self.topic,
            group=f"{self.prefix}-{run}",
            sink=[f"elasticsearch://{self.elasticsearch}?index={self.prefix}-{run}{extra}"],
            batch=self.batch,
            metrics_port=0,
        )


def run_variant(variant: str, setup: Setup, rep: int) -> Run:
    """One run of ``variant`` into its own index; the index and its template are deleted afterwards."""
    settings = setup.settings(variant, rep)
    if variant == INDEXER:
        return _indexer(setup, settings, rep)
    bulk = BULKS[variant]
    parts = build_parts(settings, settings.group)
    (sink,) = parts.sinks
    assert isinstance(sink, SearchSink)
    consumer = group_consumer(
        settings.client_config()["bootstrap_servers"], setup.topic, settings.group, max_poll_records=setup.batch
    )
    try:
        sink.ensure_template()
        wall, cpu, node = _clocks(setup)
        docs = failed = 0
        for ok, _item in bulk(sink.client, _actions(consumer, parts.decoder, sink, setup)):
            docs += ok
            failed += not ok
        return _finish(variant, rep, sink, docs, failed, wall, cpu, node, setup)
    finally:
        consumer.close()
        _cleanup(sink)
        parts.close()


def _indexer(setup: Setup, settings: IndexSettings, rep: int) -> Run:
    service = IndexService(settings)
    (sink,) = service.parts.sinks
    assert isinstance(sink, SearchSink)
    try:
        sink.ensure_template()
        wall, cpu, node = _clocks(setup)
        service.start()
        seen, since = 0, time.monotonic()
        labels = {"group": settings.group, "sink": sink.name}

        def written() -> int:  # acknowledged by the sink (decoding runs one batch ahead of writing)
            return int(service.registry.get_sample_value("inferwatch_consumer_written_total", labels) or 0)

        while (handled := written()) < setup.records:
            if not service.thread.alive:
                raise RunFailed(f"the indexer stopped after {handled} records: {service.thread.error!r}")
            if handled != seen:
                seen, since = handled, time.monotonic()
            elif time.monotonic() - since > IDLE_TIMEOUT:
                raise RunFailed(f"the indexer wrote {handled} of {setup.records} records, then nothing")
            time.sleep(0.05)  # seldom: the GIL is the indexer thread's; <= 50 ms added to the wall time
        failed = service.indexer.dead_lettered
        return _finish(INDEXER, rep, sink, written(), failed, wall, cpu, node, setup)
    finally:
        service.thread.stop()
        _cleanup(sink)  # before the service closes the sink's client
        service.stop()


def _clocks(setup: Setup) -> tuple[float, float, float | None]:
    node = cpu_seconds(setup.node_pid) if setup.node_pid else None
    return time.perf_counter(), time.process_time(), node


def _finish(
    variant: str,
    rep: int,
    sink: SearchSink,
    docs: int,
    failed: int,
    wall: float,
    cpu: float,
    node: float | None,
    setup: Setup,
) -> Run:
    seconds, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    node_s = cpu_seconds(setup.node_pid) - node if setup.node_pid and node is not None else None
    index = sink.config.index
    sink.client.indices.refresh(index=index)
    indexed = int(sink.client.count(index=index)["count"])
    return Run(variant, rep, docs, indexed, failed, seconds, cpu_s, node_s)


def _cleanup(sink: SearchSink) -> None:
    """Drop the run's index and template (best effort: a leftover only costs the node disk)."""
    try:
        sink.client.options(ignore_status=404).indices.delete(index=sink.config.index)
        sink.client.options(ignore_status=404).indices.delete_index_template(name=sink.template_name)
    except Exception:  # cleaning up must not hide the run's own error
        pass


def _actions(consumer: Any, decoder: Any, sink: SearchSink, setup: Setup) -> Iterator[dict[str, Any]]:
    """The bulk actions of the topic's first ``setup.records`` messages, read in batches as the indexer does."""
    seen, since = 0, time.monotonic()
    while seen < setup.records:
        polled = consumer.poll(timeout_ms=500, max_records=setup.batch)
        messages = [m for batch in polled.values() for m in batch]
        if not messages:
            if time.monotonic() - since > IDLE_TIMEOUT:
                raise RunFailed(f"read {seen} of {setup.records} messages from {setup.topic}, then nothing")
            continue
        since = time.monotonic()
        for m in messages[: setup.records - seen]:
            for record in decoder.feed(Message.from_kafka(m)):
                yield from sink.record_actions(record)
        seen += len(messages)


def _parallel_bulk(client: Any, actions: Iterator[dict[str, Any]]) -> Iterator[tuple[bool, Any]]:
    from elasticsearch.helpers import parallel_bulk

    return iter(parallel_bulk(client, actions, raise_on_error=False, raise_on_exception=False))


def _streaming_bulk(client: Any, actions: Iterator[dict[str, Any]]) -> Iterator[tuple[bool, Any]]:
    from elasticsearch.helpers import streaming_bulk

    return iter(streaming_bulk(client, actions, raise_on_error=False, raise_on_exception=False))


BULKS: dict[str, Callable[[Any, Iterator[dict[str, Any]]], Iterator[tuple[bool, Any]]]] = {
    PARALLEL_BULK: _parallel_bulk,
    STREAMING_BULK: _streaming_bulk,
}
"""The baselines: the client's helpers with their defaults (errors returned per item, not raised)."""


def write_topic(bootstrap: str, topic: str, records: list[Any], batch: int, on_batch: Callable[[int], object]) -> None:
    """The records into ``topic`` through the logger's own ``kafka://`` sink (keyed by request id), as the
    sidecar writes them."""
    from inferwatch.sinks import open_sink

    sink = open_sink(f"kafka://{bootstrap}?topic={topic}")
    try:
        for i in range(0, len(records), batch):
            sink.write(records[i : i + batch])
            on_batch(len(records[i : i + batch]))
    finally:
        sink.close()
