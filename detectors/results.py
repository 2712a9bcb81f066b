"""Detector results to the shared sinks (``--results-sink``): per request for outlier/adversarial (and online drift)
detectors, per closed window for drift detectors.

Transports build an ``Origin`` from what the request carries (request id from ``x-request-id``,
``Seldon-Puid``, ``Ce-Requestid``/``Ce-Id`` or the V2 body id; model, deployment, namespace, endpoint from
``Ce-*`` attributes, else the ``results_*`` settings) and call ``DetectorResults.request``; the core calls
``window`` when a drift window closes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from inferwatch.delivery.publisher import ResultPublisher
from inferwatch.detectors.settings import DetectorSettings
from inferwatch.ids import new_request_id
from inferwatch.results import Origin, ResultRecord, drift_id, origin_from_event, origin_from_headers, per_request

if TYPE_CHECKING:
    from inferwatch.detectors.core import DetectorCore

__all__ = ["DetectorResults", "Origin", "origin_from_event", "origin_from_headers"]


class DetectorResults:
    """Turns detector outputs into ``ResultRecord``s and publishes them (never raises, never blocks)."""

    def __init__(self, settings: DetectorSettings, detector_type: str, publisher: ResultPublisher) -> None:
        self.settings = settings
        self.kind = detector_type
        self.publisher = publisher

    def _envelope(self, origin: Origin | None) -> dict[str, Any]:
        s, o = self.settings, origin or Origin(None)
        return {
            "model_name": o.model_name or s.results_model,
            "deployment": o.deployment or s.results_deployment,
            "namespace": o.namespace or s.results_namespace,
            "endpoint": o.endpoint or s.results_endpoint,
            "protocol": o.protocol,
            "source": s.model_name,
            "tags": dict(o.tags),
        }

    def request(self, origin: Origin, result: dict[str, Any], instances: int) -> int:
        """Publish a per-request result (outlier, adversarial, online drift); a pending drift answer is not a
        result. Returns how many records were queued."""
        if not self.publisher.enabled or result.get("data", {}).get("pending"):
            return 0
        if self.kind == "drift" and result.get("data", {}).get("window_size"):
            return 0  # a window closed by this request: published by ``window``
        rid = origin.request_id or new_request_id()
        return self.publisher.publish_all(per_request(self.kind, result, rid, instances, **self._envelope(origin)))

    def window(self, result: dict[str, Any]) -> bool:
        """Publish the result of a closed drift window (no request id: it goes to the drift index/topic). A durable
        publisher is settled before this returns: the core forgets the window's rows only after its result is
        safe."""
        if not self.publisher.enabled:
            return False
        now = datetime.now(UTC)
        record = ResultRecord(drift_id(self.settings.model_name, now), "drift", result, created_at=now)
        for key, value in self._envelope(None).items():
            setattr(record, key, value)
        accepted = self.publisher.publish(record)
        return accepted and not (self.publisher.durable and self.publisher.settle())


def start_results(settings: DetectorSettings, core: DetectorCore, *, durable: bool = False) -> DetectorResults:
    """The started ``DetectorResults`` of ``settings.results_sink`` (publishing nothing without one), hooked to
    the core's closed drift windows. ``durable``: results go through a write-ahead log
    (``ResultPublisher.settle``). The caller closes ``.publisher`` when the server stops."""
    service = f"detector-{settings.model_name}"
    publisher = ResultPublisher.from_settings(settings, core.registry, service, durable=durable).start()
    publisher.watch(core.probes)
    results = DetectorResults(settings, core.detector_type, publisher)
    core.on_window = results.window
    return results
