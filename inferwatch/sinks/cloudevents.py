"""Forward logged exchanges as CloudEvents, the way Seldon Core's executor feeds its ``logger.url``.

URI: ``cloudevents+http://HOST:PORT/PATH?send=request&timeout=10`` (``cloudevents+https://`` for TLS).
Each record becomes binary-mode events (``send=request`` by default, or ``response`` or ``both``) whose body
is the original payload and whose headers are the executor's: ``Ce-Type
io.seldon.serving.inference.request|response``, ``Ce-Requestid`` (the record id), ``Ce-Modelid``,
``Ce-Inferenceservicename``, ``Ce-Namespace``, ``Ce-Endpoint``, ``Ce-Protocol``. Pointing it at an
inferwatch detector (``POST /``) runs outlier/drift detection on live traffic with no Kafka in between.
A body that was truncated (a detector cannot use half a payload), withheld by redaction or shed
(``inferwatch.reduction``: only its size and sha256 kept) is not forwarded: it is counted as written and
logged once per batch. With redaction on, the body forwarded is the record's, i.e. the masked one. Records are
posted in order and fail alone (``RecordsRejected``): a 5xx or connection error fails the rest of the batch for a
retry, a 401/403 blocks the sink until its access is fixed, and any other 4xx refuses that one record.

Detector/explainer results (``ResultRecord``) are posted as one binary-mode event each, the way Seldon's
detector components answer: body = alibi's JSON, ``Ce-Type`` ``io.seldon.serving.inference.outlier|drift``
(``io.inferwatch.explanation``, ``io.inferwatch.adversarial``), ``Ce-Id`` the result id, ``Ce-Requestid``
the request id, ``Ce-Source`` the detector/explainer; ``send`` does not apply to them.
"""

from __future__ import annotations

import base64
import http.client
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from inferwatch import jsonenc, timestamps
from inferwatch.errors import ConfigError, SinkError
from inferwatch.protocols.cloudevents import CloudEvent, EventType, to_binary_http
from inferwatch.records import InferenceRecord, PayloadRecord
from inferwatch.results import EVENT_TYPES, Record, ResultRecord
from inferwatch.sinks.base import Sink, SinkHealth, SinkURI
from inferwatch.sinks.failures import Block, RecordFailure, RecordsRejected, Refusal

log = logging.getLogger(__name__)

_TYPES = {"request": EventType.SELDON_REQUEST.value, "response": EventType.SELDON_RESPONSE.value}
_SEND = {"request": ("request",), "response": ("response",), "both": ("request", "response")}


class CloudEventsSink:
    """One persistent HTTP connection, used by the sink's delivery thread only."""

    def __init__(self, url: str, sides: Sequence[str], timeout: float = 10.0, name: str = "cloudevents") -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"cloudevents sink needs an http(s) URL, got {url!r}")
        self.name = name
        self.url = url
        self.sides = tuple(sides)
        self.timeout = timeout
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._path = parts.path or "/"
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._last_error: str | None = None

    @classmethod
    def from_uri(cls, uri: SinkURI) -> CloudEventsSink:
        scheme = uri.scheme.split("+", 1)[1] if "+" in uri.scheme else "http"
        send = uri.options.get("send", "request")
        if send not in _SEND:
            raise ConfigError(f"cloudevents sink: send must be request, response or both, got {send!r}")
        timeout = float(uri.options.get("timeout", "10"))
        return cls(f"{scheme}://{uri.netloc}{uri.path}", _SEND[send], timeout)

    def write(self, records: Sequence[Record]) -> None:
        """Post each record's events in order; ``RecordsRejected`` names the records that were not accepted."""
        skipped = 0
        failures: list[RecordFailure] = []
        with self._lock:
            for pos, r in enumerate(records):
                try:
                    skipped += self._send(r)
                except SinkError as e:
                    if e.retriable:  # the endpoint is down or failing: this record and the rest, later
                        failures.extend(
                            RecordFailure(p, Refusal.RETRY, "unavailable", e.message) for p in range(pos, len(records))
                        )
                        break
                    failures.append(self._refused(pos, e))
                except TypeError as e:
                    failures.append(RecordFailure(pos, Refusal.RECORD, "unserialisable", f"record {r.id}: {e}"))
        if skipped:
            log.warning("%s: %d truncated, withheld or shed bodies not forwarded to %s", self.name, skipped, self.url)
        if failures:
            raise RecordsRejected(self.name, failures, len(records))
        self._last_error = None

    def _send(self, r: Record) -> int:
        """Post the events of one record; how many of its bodies were not forwarded."""
        if isinstance(r, ResultRecord):
            self._post(_result_event(r))
            return 0
        skipped = 0
        for side in self.sides:
            payload: PayloadRecord | None = getattr(r, side)
            if payload is None or not payload.size:
                continue
            if payload.truncated or not payload.raw:
                skipped += 1
                continue
            self._post(_event(r, side, payload))
        return skipped

    def _refused(self, pos: int, e: SinkError) -> RecordFailure:
        status = e.details.get("status")
        if status in (401, 403):
            block = Block("auth", f"{self.url} refuses the sink: {e.message}", f"give the sink access to {self.url}")
            return RecordFailure(pos, Refusal.BLOCKED, "auth", e.message, block)
        return RecordFailure(pos, Refusal.RECORD, f"http_{status}", e.message)

    def _post(self, event: CloudEvent) -> None:
        headers, body = to_binary_http(event)
        try:
            conn = self._connection()
            conn.request("POST", self._path, body=body, headers=headers)
            resp = conn.getresponse()
            answer = resp.read()
        except (OSError, http.client.HTTPException) as e:
            self._close()
            self._last_error = f"{self.url} unreachable: {e}"
            raise SinkError(f"{self.name}: {self._last_error}", retriable=True) from e
        if resp.status >= 300:
            self._last_error = f"{self.url} answered {resp.status}: {answer[:200]!r}"
            raise SinkError(
                f"{self.name}: {self._last_error}",
                retriable=resp.status >= 500 or resp.status == 429,
                details={"status": resp.status},
            )

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self.timeout)
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def flush(self) -> None:
        """Every event is posted synchronously by ``write``."""

    def close(self) -> None:
        with self._lock:
            self._close()

    def health(self) -> SinkHealth:
        return SinkHealth(self._last_error is None, self._last_error or self.url)


def _event(r: InferenceRecord, side: str, payload: PayloadRecord) -> CloudEvent:
    data = base64.b64decode(payload.raw) if payload.raw_encoding == "base64" else payload.raw.encode()
    ext = {
        "requestid": r.id,
        "modelid": r.model_name,
        "inferenceservicename": r.deployment,
        "namespace": r.namespace,
        "endpoint": r.endpoint,
        "protocol": r.protocol,
    }
    return CloudEvent(
        id=f"{r.id}-{side}",
        source="io.inferwatch.logger",
        type=_TYPES[side],
        datacontenttype=payload.content_type or "application/json",
        extensions={k: v for k, v in ext.items() if v},
        data=data,
    )


def _result_event(r: ResultRecord) -> CloudEvent:
    ext = {
        "requestid": r.request_id,
        "modelid": r.model_name,
        "inferenceservicename": r.deployment,
        "namespace": r.namespace,
        "endpoint": r.endpoint,
        "protocol": r.protocol,
    }
    return CloudEvent(
        id=r.id,
        source=r.source or "io.inferwatch",
        type=EVENT_TYPES.get(r.kind, f"io.inferwatch.{r.kind}"),
        datacontenttype="application/json",
        time=timestamps.iso(r.created_at),
        extensions={k: v for k, v in ext.items() if v},
        data=jsonenc.dumps(r.body),
    )


if TYPE_CHECKING:  # mypy fails here if CloudEventsSink drifts from the Sink protocol
    _: type[Sink] = CloudEventsSink
