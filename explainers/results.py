"""Explanations to the shared sinks (``--results-sink``), merged into the explained request's logged document.

The request id is the caller's (``x-request-id``, ``Seldon-Puid``, ``Ce-Requestid``, or the body's id: V2 ``id``,
Seldon ``meta.puid``); without one no explanation is published (there is no logged request to attach it to).
A local explanation per instance goes to that instance's document (``<id>-item-<n>`` in a batch); a global
explanation (ALE, PD...) is attached to every instance of the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inferwatch.delivery.publisher import ResultPublisher
from inferwatch.explainers.settings import ExplainerSettings
from inferwatch.results import ResultKind, ResultRecord, origin_from_headers, result_id

KIND = ResultKind.EXPLANATION.value


class ExplainerResults:
    """Publishes the explanations of one explain call (never raises, never blocks)."""

    def __init__(self, settings: ExplainerSettings, publisher: ResultPublisher) -> None:
        self.settings = settings
        self.publisher = publisher

    def publish(
        self, headers: Mapping[str, str], body_id: str | None, explanations: list[dict[str, Any]], instances: int
    ) -> int:
        """Queue the explanations of a request of ``instances`` instances; how many records were queued."""
        origin = origin_from_headers(headers, body_id, self.settings.protocol)
        if not self.publisher.enabled or origin.request_id is None or not explanations:
            return 0
        s, rid = self.settings, origin.request_id
        envelope: dict[str, Any] = {
            "model_name": origin.model_name or s.results_model or s.model_name,
            "deployment": origin.deployment or s.results_deployment,
            "namespace": origin.namespace or s.results_namespace,
            "endpoint": origin.endpoint or s.results_endpoint,
            "protocol": s.protocol,
            "source": f"explainer-{s.kind}",
        }
        n = max(instances, 1)
        per_instance = len(explanations) == n
        records = [
            ResultRecord(
                result_id(KIND, rid, None if n == 1 else i),
                KIND,
                explanations[i] if per_instance else explanations[0],
                rid,
                None if n == 1 else i,
                n,
                **envelope,
            )
            for i in range(n)
        ]
        return self.publisher.publish_all(records)
