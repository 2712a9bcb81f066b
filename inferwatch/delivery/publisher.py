"""``ResultPublisher``: how detectors and explainers hand their results to the shared sinks.

A service builds one from its ``ResultsSettings`` (``--results-sink URI``, repeatable; the spool settings the
logger uses) and its own metrics registry. ``publish`` never blocks and never raises: results go through the
same delivery pipeline as the logger's records (bounded queue, one worker per sink, on-disk spool replayed
after an outage or a restart, drops counted in ``inferwatch_records_dropped_total`` and logged).

A durable publisher (``durable=True``: ``detector consume``, which commits Kafka offsets) writes every result
to a write-ahead log first (``DeliveryOptions.durability='sync'``, fsynced in groups, replayed on the next
start until every sink has it). ``settle`` waits until everything published so far is in that log: a consumer
calls it before it commits, so a crash after the commit never loses the results of the committed records.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated

from prometheus_client import CollectorRegistry
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

from inferwatch.cli_flags import Flag, add_settings_arguments
from inferwatch.delivery.backlog import decode_record, encode_record
from inferwatch.delivery.metrics import DeliveryMetrics
from inferwatch.delivery.pipeline import DeliveryOptions, Pipeline
from inferwatch.errors import ConfigError
from inferwatch.health import Check, Health
from inferwatch.results import Record, ResultRecord
from inferwatch.settings import common, split_list
from inferwatch.sinks import Sink, open_sink

log = logging.getLogger("inferwatch.results")


class ResultsSettings(BaseSettings):
    """Where a detector's or explainer's results go (a mixin of the service's settings, same env prefix)."""

    results_sink: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Sink URIs for results (sqlite://, kafka://, elasticsearch://, opensearch://, cloudevents+http://);"
        " none: results are not published.",
    )
    results_spool_dir: Path | None = Field(
        None, description="Spools of failing result sinks; default $INFERWATCH_HOME/spool/results/<service>-<name>."
    )
    results_spool_max_bytes: int = Field(1 << 30, ge=0, description="Bound of each result sink's spool; 0 = none.")
    results_queue_size: int = Field(10_000, ge=1, description="Results held in memory per queue before spooling.")
    results_shutdown_timeout: float = Field(30.0, gt=0, description="Seconds to deliver pending results on exit.")
    results_model: str | None = Field(
        None, description="Model of the logged requests (index/topic names); else the request's Ce-Modelid."
    )
    results_deployment: str | None = Field(
        None, description="Deployment of the logged requests; else the request's Ce-Inferenceservicename."
    )
    results_namespace: str | None = Field(
        None, description="Namespace of the logged requests; else the request's Ce-Namespace."
    )
    results_endpoint: str | None = Field(
        None, description="Endpoint (predictor) of the logged requests; else the request's Ce-Endpoint."
    )

    @field_validator("results_sink", mode="before")
    @classmethod
    def _sinks(cls, v: object) -> object:
        return split_list(v)


RESULTS_FIELDS = tuple(ResultsSettings.model_fields)
"""The fields a service's settings get from ``ResultsSettings``: their flags go in the "results" group."""


def add_results_arguments(p: argparse.ArgumentParser, settings: type[ResultsSettings]) -> None:
    """The flags of ``settings``' results fields (``--results-sink URI``, repeatable, the spool and the names
    of the logged requests) as the "results" argument group; shared by the detector and explainer commands."""
    group = p.add_argument_group("results", "where results go (delivered like the logger's records)")
    add_settings_arguments(group, settings, {"results_sink": Flag(metavar="URI")}, only=RESULTS_FIELDS)


class ResultPublisher:
    """Delivers ``ResultRecord``s to sinks in the background (see module doc)."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        registry: CollectorRegistry,
        options: DeliveryOptions | None = None,
        source: str = "results",
        *,
        durable: bool = False,
    ) -> None:
        self.source = source
        self.sinks = list(sinks)
        options = options or DeliveryOptions()
        if durable and self.sinks:
            if not options.spooling:
                raise ConfigError(
                    "durable results need a spool: set --results-spool-max-bytes above 0 (results are written to a"
                    " write-ahead log before the consumer commits its offsets)"
                )
            options = replace(options, durability="sync")
        codec = (encode_record, decode_record) if durable else None
        self.pipeline: Pipeline[Record] = Pipeline(self.sinks, _identity, DeliveryMetrics(registry), options, codec)
        self._started = False
        self._unsettled: list[concurrent.futures.Future[bool]] = []
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, settings: ResultsSettings, registry: CollectorRegistry, service: str, *, durable: bool = False
    ) -> ResultPublisher:
        """Sinks opened from ``settings.results_sink`` (a bad URI is a ``ConfigError`` now, not later);
        ``service`` (e.g. ``detector-iris-od``) names the default spool directory and the ``source`` label;
        ``durable``: see the module doc."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", service)
        options = DeliveryOptions(
            queue_size=settings.results_queue_size,
            shutdown_timeout=settings.results_shutdown_timeout,
            spool_dir=settings.results_spool_dir or common().home / "spool" / "results" / safe,
            spool_max_bytes=settings.results_spool_max_bytes,
        )
        sinks = [open_sink(u) for u in settings.results_sink]
        return cls(sinks, registry, options, source=service.split("-")[0], durable=durable)

    @property
    def enabled(self) -> bool:
        return bool(self.sinks)

    @property
    def durable(self) -> bool:
        """Whether results go through a write-ahead log (``settle`` waits for it)."""
        return self.pipeline.durable

    def start(self) -> ResultPublisher:
        """Start the sink workers (each replays what an earlier run left in its spool first)."""
        if self.enabled and not self._started:
            self.pipeline.start()
            self._started = True
            log.info("publishing results to %s", ", ".join(s.name for s in self.sinks))
        return self

    def publish(self, record: ResultRecord) -> bool:
        """Queue one result; never blocks, never raises. ``False`` if it was not accepted (no sink, or dropped)."""
        if not self._started:
            return False
        try:
            if not self.durable:
                return self.pipeline.submit_record(record, self.source)
            future = self.pipeline.submit_durable(record, self.source)
            with self._lock:
                self._unsettled.append(future)
            return True
        except Exception:  # the caller's answer must never depend on result delivery
            log.exception("could not queue result %s", record.id)
            return False

    def settle(self) -> int:
        """Wait until every result published so far is in the write-ahead log (durable publishers; at once
        otherwise). Returns how many could not be logged: those were dropped, counted under sink ``wal`` and
        logged by the log's writer."""
        with self._lock:
            futures, self._unsettled = self._unsettled, []
        lost = sum(not f.result() for f in futures)
        if lost:
            log.error("%d results could not be written to the write-ahead log and are lost (see above)", lost)
        return lost

    def publish_all(self, records: Iterable[ResultRecord]) -> int:
        """``publish`` each; how many were accepted."""
        return sum(self.publish(r) for r in records)

    def health(self) -> dict[str, object]:
        """Each result sink's health and spool backlog."""
        backlog = self.pipeline.backlog()
        return {w.sink.name: {"ok": w.health().ok, "spooled": backlog[w.sink.name][0]} for w in self.pipeline.workers}

    def watch(self, health: Health) -> None:
        """Add result delivery to a service's probes: its threads to liveness (a dead one publishes nothing any
        more), the sinks as detail (a sink that is down only fills its spool)."""
        if self.enabled:
            health.liveness("results-delivery", self.pipeline.liveness)
            health.detail("results-sinks", lambda: Check(True, detail=self.health()))

    def close(self) -> None:
        """Deliver what was accepted (or leave it spooled for the next start) within the shutdown timeout."""
        if self._started:
            self._started = False
            self.pipeline.stop()


def _identity(record: Record) -> Record:
    return record
