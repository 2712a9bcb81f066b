"""Feedback metrics: Seldon ``Feedback`` messages (``/send-feedback``, ``io.seldon.serving.feedback`` events) counted
as TP/FP/TN/FN and accuracy per model and class, as Seldon's alibi-detect "metrics" server does.

A feedback carries ``truth`` and, usually, the ``response`` the model gave. The predicted class of an instance is
the argmax of its response row (scores / probabilities), or the value itself for a one-column output (a class id;
a value strictly between 0 and 1 is a binary probability, class ``value >= 0.5``). The truth is a class id or a
one-hot row. A flat array is one instance (Seldon's convention); ``[n, k]`` arrays are n instances. Without a
``response``, the request id (``x-request-id``/``Seldon-Puid``/``Ce-Requestid``, else ``request.meta.puid``) is
looked up in the logger's store (``--feedback-store``): the embedded ``sqlite://`` store or an
``elasticsearch://``/``opensearch://`` cluster (the logger's index pattern, searched by the ``id`` field).
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from prometheus_client import CollectorRegistry

from inferwatch import ids
from inferwatch.detectors.metrics import FeedbackMetrics
from inferwatch.errors import BadRequest, CodecError, NotFound, NotReady, UnprocessableEntity
from inferwatch.protocols import SELDON, Tensor, decode_body
from inferwatch.protocols.base import REQUEST, RESPONSE
from inferwatch.protocols.cloudevents import EventType
from inferwatch.records import InferenceRecord
from inferwatch.results import Origin
from inferwatch.stores import RecordStore, StoreError, open_store

log = logging.getLogger("inferwatch.detectors.feedback")

FEEDBACK_EVENT_TYPES = frozenset({EventType.SELDON_FEEDBACK.value, EventType.SELDON_INFERENCE_FEEDBACK.value})
"""CloudEvent types answered by the feedback counter instead of the detector."""
FEEDBACK_METRICS_EVENT_TYPE = "io.seldon.serving.feedback.metrics"
"""``Ce-Type`` of the answer to a feedback event (the type Seldon's metrics-server examples use)."""
ID_SOURCES = "x-request-id, Seldon-Puid or Ce-Requestid header, or the request's (else response's, truth's) meta.puid"


# --- class labels ---------------------------------------------------------------------------------------------


def instance_labels(values: Any, role: str) -> tuple[list[str], int | None]:
    """The class of each instance of ``values`` (``role``: ``response`` or ``truth``) and, for score / one-hot rows,
    how many classes a row has. ``UnprocessableEntity`` for shapes or values that name no class."""
    arr = np.asarray(values)
    if arr.ndim <= 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise UnprocessableEntity(
            f"'{role}' must hold one row per instance (shape [n, classes] or [n, 1]), got shape {list(arr.shape)}",
            details={"field": role, "shape": list(arr.shape)},
        )
    if arr.shape[1] == 1:
        return [_class_of(v, role) for v in arr[:, 0].tolist()], None
    if arr.dtype.kind not in "biuf":
        raise UnprocessableEntity(
            f"'{role}' rows of {arr.shape[1]} values must be numeric scores or one-hot, got dtype {arr.dtype}",
            details={"field": role},
        )
    return [str(int(i)) for i in np.argmax(arr, axis=1)], int(arr.shape[1])


def _class_of(value: Any, role: str) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and value:
        return value
    if isinstance(value, bool | int):
        return str(int(value))
    if isinstance(value, float) and np.isfinite(value):
        if value.is_integer():
            return str(int(value))
        if role == "response" and 0.0 < value < 1.0:
            return "1" if value >= 0.5 else "0"  # a binary classifier's probability of class 1
    raise UnprocessableEntity(f"'{role}' value {value!r} is not a class id", details={"field": role})


def check_pair(predicted: Sequence[str], pred_width: int | None, truth: Sequence[str], truth_width: int | None) -> None:
    """Truth and response describe the same instances and classes, else ``UnprocessableEntity`` (422)."""
    if len(predicted) != len(truth):
        raise UnprocessableEntity(
            f"truth has {len(truth)} instance(s), the response {len(predicted)}",
            details={"truth_instances": len(truth), "response_instances": len(predicted)},
        )
    if pred_width and truth_width and pred_width != truth_width:
        raise UnprocessableEntity(
            f"truth rows have {truth_width} classes, response rows {pred_width}",
            details={"truth_classes": truth_width, "response_classes": pred_width},
        )
    for width, other, role in ((pred_width, truth, "truth"), (truth_width, predicted, "response")):
        bad = [c for c in other if width and not (c.isdigit() and int(c) < width)]
        if bad:
            raise UnprocessableEntity(
                f"'{role}' class {bad[0]!r} is not one of the {width} class indices of the other side's rows",
                details={"field": role, "classes": width},
            )


# --- the counter ----------------------------------------------------------------------------------------------


@dataclass
class _Tally:
    n: int = 0
    correct: int = 0
    classes: dict[str, list[int]] = field(default_factory=dict)
    """class -> [tp, fp, fn, tn] (one-vs-rest)."""


class FeedbackCounter:
    """TP/FP/TN/FN (one-vs-rest per class), accuracy and reward per model on ``FeedbackMetrics``.

    A class first seen after n instances starts with n true negatives: none of those instances was of it or
    predicted as it, so counts stay exact for class ids discovered on the way."""

    def __init__(self, registry: CollectorRegistry, state_file: Path | None = None, max_labels: int = 100) -> None:
        self.metrics = FeedbackMetrics(registry)
        self.max_labels = max_labels
        """Most distinct models, and classes per model, feedback may create (each is metric series and a tally);
        tallies loaded from ``state_file`` count even past it, they only get no new ones."""
        self._tallies: dict[str, _Tally] = {}
        self._lock = threading.Lock()
        self.state_file = state_file
        """Where the tallies are kept across restarts (JSON, replaced atomically after every feedback)."""
        if state_file is not None:
            self._load(state_file)

    def _load(self, path: Path) -> None:
        """Tallies of an earlier run: accuracy and TN bookkeeping continue; counters start again at 0."""
        try:
            saved = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, orjson.JSONDecodeError) as e:
            log.warning("feedback tallies in %s not readable (%s): counting starts again", path, e)
            return
        for model, t in saved.items():
            tally = _Tally(int(t["n"]), int(t["correct"]), {c: [int(v) for v in vs] for c, vs in t["classes"].items()})
            self._tallies[model] = tally
            if tally.n:
                self.metrics.accuracy.labels(model, "").set(tally.correct / tally.n)
                for c, (tp, _fp, _fn, tn) in tally.classes.items():
                    self.metrics.accuracy.labels(model, f"CLASS_{c}").set((tp + tn) / tally.n)
        log.info("feedback tallies of %d model(s) loaded from %s", len(saved), path)

    def _save(self) -> None:
        if self.state_file is None:
            return
        data = {m: {"n": t.n, "correct": t.correct, "classes": t.classes} for m, t in self._tallies.items()}
        tmp = self.state_file.with_suffix(".tmp")
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(orjson.dumps(data))
            os.replace(tmp, self.state_file)
        except OSError as e:
            log.warning("feedback tallies not saved to %s: %s", self.state_file, e)

    def count(
        self, model: str, predicted: Sequence[str], truth: Sequence[str], classes: int | None, reward: float | None
    ) -> int:
        """Count one feedback; returns how many of its instances were predicted right."""
        m = self.metrics
        with self._lock:
            known = {str(i) for i in range(classes or 0)} | set(predicted) | set(truth)
            self._check_labels(model, known)
            m.feedback.labels(model).inc()
            if reward:
                m.reward.labels(model).inc(reward)
            tally = self._tallies.setdefault(model, _Tally())
            for c in sorted(known - tally.classes.keys()):
                tally.classes[c] = [0, 0, 0, tally.n]
                for metric in (m.tp, m.fp, m.fn):
                    metric.labels(model, f"CLASS_{c}")  # the series exist from the start, at 0
                m.tn.labels(model, f"CLASS_{c}").inc(tally.n)
            delta = {c: [0, 0, 0, 0] for c in tally.classes}
            for p, t in zip(predicted, truth, strict=True):
                for c, d in delta.items():
                    d[0 if p == t == c else 1 if p == c else 2 if t == c else 3] += 1
            right = sum(p == t for p, t in zip(predicted, truth, strict=True))
            tally.n += len(truth)
            tally.correct += right
            for c, d in delta.items():
                counts, label = tally.classes[c], f"CLASS_{c}"
                for i, metric in enumerate((m.tp, m.fp, m.fn, m.tn)):
                    counts[i] += d[i]
                    metric.labels(model, label).inc(d[i])
                m.accuracy.labels(model, label).set((counts[0] + counts[3]) / tally.n)
            m.instances.labels(model).inc(len(truth))
            m.correct.labels(model).inc(right)
            m.accuracy.labels(model, "").set(tally.correct / tally.n)
            self._save()
            return right

    def _check_labels(self, model: str, known: set[str]) -> None:
        """422 before anything is counted when ``model`` or the classes would pass ``max_labels``."""
        tally = self._tallies.get(model)
        if tally is None and len(self._tallies) >= self.max_labels:
            self.metrics.refused.labels("models").inc()
            raise UnprocessableEntity(
                f"feedback for model {model!r} refused: feedback already counts {len(self._tallies)} models, the "
                f"limit (--max-feedback-labels {self.max_labels})",
                details={"model_name": model, "limit": self.max_labels},
            )
        have = tally.classes.keys() if tally is not None else set()
        new = known - have
        if new and len(have) + len(new) > self.max_labels:
            self.metrics.refused.labels("classes").inc()
            shown = ", ".join(sorted(new)[:5]) + (", ..." if len(new) > 5 else "")
            raise UnprocessableEntity(
                f"feedback for model {model!r} refused: {len(new)} new class name(s) ({shown}) would take it past "
                f"{self.max_labels} classes (--max-feedback-labels); it has {len(have)}",
                details={"model_name": model, "new_classes": len(new), "limit": self.max_labels},
            )

    def summary(self, model: str) -> dict[str, Any]:
        """The model's counts so far: ``{instances, correct, accuracy, classes: {CLASS_c: {tp, fp, fn, tn}}}``."""
        with self._lock:
            t = self._tallies.get(model, _Tally())
            classes = {f"CLASS_{c}": dict(zip(("tp", "fp", "fn", "tn"), v, strict=True)) for c, v in t.classes.items()}
            return {
                "instances": t.n,
                "correct": t.correct,
                "accuracy": t.correct / t.n if t.n else None,
                "classes": classes,
            }


# --- logged responses -----------------------------------------------------------------------------------------


def open_feedback_store(uri: str | None) -> RecordStore | None:
    """The store a ``--feedback-store`` URI names (``None`` without one). An embedded store that does not exist yet is
    created empty: the detector may start before the logger."""
    return open_store(uri, missing_ok=True) if uri else None


def stored_values(record: InferenceRecord, request_id: str) -> Any:
    """The response values of a logged record: its raw body decoded by its codec (first output tensor), else its
    per-instance output rows."""
    side = record.response
    if side is not None and side.raw and not side.truncated:
        raw = base64.b64decode(side.raw) if side.raw_encoding == "base64" else side.raw.encode()
        decoded = decode_body(raw, kind=RESPONSE, protocol=side.protocol, content_type=side.content_type)
        if decoded.payload is not None and decoded.payload.tensors:
            return _values(decoded.payload.tensors[0])
    rows = [i["response"] for i in record.instances if isinstance(i.get("response"), dict)]
    if rows:
        return [list(r.values()) for r in rows]
    raise UnprocessableEntity(f"the logged record {request_id!r} has no decodable response to compare with the truth")


def _values(t: Tensor) -> Any:
    return t.data if isinstance(t.data, np.ndarray) else np.asarray(t.nested(), dtype=object)


# --- the service ----------------------------------------------------------------------------------------------


class FeedbackService:
    """Parses feedback, finds the response (in the message or the store), counts it on a ``FeedbackCounter``."""

    def __init__(self, counter: FeedbackCounter, store: RecordStore | None, default_model: str) -> None:
        self.counter, self.store, self.default_model = counter, store, default_model

    def handle(self, raw: bytes, origin: Origin, content_type: str | None = None) -> dict[str, Any]:
        """Count one Feedback body; the answer summarises it and the model's counts so far."""
        doc, parts = parse_feedback(raw, content_type)
        truth, truth_width = instance_labels(_part(parts, "truth", required=True), "truth")
        rid = origin.request_id or ids.from_body(doc)
        model = origin.model_name
        response = _part(parts, "response", required="response" in doc)
        if response is not None:
            source = "feedback"
        else:
            stored = self._lookup(rid)
            response, source = stored_values(stored, rid or ""), self.store.description if self.store else ""
            model = model or stored.model_name
        predicted, pred_width = instance_labels(response, "response")
        check_pair(predicted, pred_width, truth, truth_width)
        model = model or self.default_model
        right = self.counter.count(model, predicted, truth, pred_width or truth_width, _reward(parts))
        return {
            "model_name": model,
            "request_id": rid,
            "response_from": source,
            "instances": len(truth),
            "correct": right,
            "predicted": [f"CLASS_{c}" for c in predicted],
            "truth": [f"CLASS_{c}" for c in truth],
            "totals": self.counter.summary(model),
        }

    def _lookup(self, rid: str | None) -> InferenceRecord:
        if self.store is None:
            raise BadRequest(
                "feedback has no 'response': include the response the model gave, or start the detector with "
                "--feedback-store URI to look it up by request id",
                details={"field": "response"},
            )
        if not rid:
            raise BadRequest(
                f"feedback has no 'response' and no request id ({ID_SOURCES}) "
                f"to look it up in {self.store.description}",
                details={"field": "response"},
            )
        try:
            stored = self.store.get(rid)
        except StoreError as e:
            raise NotReady(e.message) from e
        if stored is None:
            raise NotFound(f"request id {rid!r} not found in {self.store.description}", details={"request_id": rid})
        return stored

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def parse_feedback(raw: bytes, content_type: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body as JSON and as the Seldon codec decodes it: ``{part: Payload-like info}`` keyed ``request``,
    ``response``, ``truth`` (tensors under ``tensors``) plus ``reward``. 400 naming the missing/invalid field."""
    decoded = decode_body(raw, kind=REQUEST, protocol=SELDON, content_type=content_type)
    doc = decoded.json
    if not isinstance(doc, dict):
        raise BadRequest(
            "feedback must be a Seldon Feedback JSON object (request, response, reward, truth)"
            + (f": {decoded.error}" if decoded.error else "")
        )
    if "truth" not in doc:
        raise BadRequest("feedback has no 'truth' (a SeldonMessage with the true class)", details={"field": "truth"})
    payload = decoded.payload
    if payload is None or "feedback" not in payload.extra:
        raise CodecError(f"invalid Seldon Feedback: {decoded.error or 'not a Feedback message'}")
    parts: dict[str, Any] = {k: dict(v) for k, v in payload.extra["feedback"].items()}
    for t in payload.tensors:
        part, _, name = t.name.partition(".")
        parts[part].setdefault("tensors", {})[name] = t
    parts["reward"] = payload.parameters.get("reward")
    return doc, parts


def _part(parts: Mapping[str, Any], name: str, *, required: bool) -> Any:
    tensors = (parts.get(name) or {}).get("tensors", {})
    t = tensors.get("data")
    if t is None:
        if required:
            raise BadRequest(
                f"feedback '{name}' carries no data.ndarray, data.tensor or data.tftensor", details={"field": name}
            )
        return None
    return _values(t)


def _reward(parts: Mapping[str, Any]) -> float | None:
    reward = parts.get("reward")
    if reward is None:
        return None
    if isinstance(reward, bool) or not isinstance(reward, int | float) or not np.isfinite(reward):
        raise BadRequest(f"feedback 'reward' must be a number, got {reward!r}", details={"field": "reward"})
    return float(reward)
