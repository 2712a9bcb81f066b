"""Explanations to the shared sinks (``--results-sink``), merged into the explained request's logged document.

Every explain call has a request id (``explained_origin``): the caller's (``x-request-id``, ``Seldon-Puid``,
``Ce-Requestid``, ``Ce-Id``, or the body's id: V2 ``id``, Seldon ``meta.puid``), else a new one
(``inferwatch.ids.new_request_id``). The explanation is recorded under it and the caller gets it back in
``x-request-id``, so an explanation asked without an id is found by the id it was answered with.
A local explanation per instance goes to that instance's document (``<id>-item-<n>`` in a batch); a global
explanation (ALE, PD...) is attached to every instance of the request.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from inferwatch.delivery.publisher import ResultPublisher
from inferwatch.explainers.settings import ExplainerSettings
from inferwatch.ids import new_request_id
from inferwatch.results import Origin, ResultKind, ResultRecord, origin_from_headers, result_id

KIND = ResultKind.EXPLANATION.value


def explained_origin(headers: Mapping[str, str], body_id: str | None, protocol: str | None) -> Origin:
    """Where an explain call's explanations belong: the caller's request id and ``Ce-*`` names (headers with
    lower-case keys, or case-insensitive), else a newly generated id."""
    origin = origin_from_headers(headers, body_id, protocol)
    return origin if origin.request_id else dataclasses.replace(origin, request_id=new_request_id())


class ExplainerResults:
    """Publishes the explanations of one explain call (never raises, never blocks)."""

    def __init__(self, settings: ExplainerSettings, publisher: ResultPublisher) -> None:
        self.settings = settings
        self.publisher = publisher

    def publish(self, origin: Origin, explanations: list[dict[str, Any]], instances: int) -> int:
        """Queue the explanations of a request of ``instances`` instances, for ``origin`` (``explained_origin``);
        how many records were queued."""
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
