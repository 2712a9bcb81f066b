"""Typed errors carry their HTTP status, retriability and a message they build themselves."""

from __future__ import annotations

from inferwatch.errors import InferwatchError, ModelNotFound, NotFound, NotReady


def test_model_not_found_builds_its_message_and_is_a_404() -> None:
    e = ModelNotFound("other", "detector")
    assert isinstance(e, NotFound) and (e.status_code, e.retriable) == (404, False)
    assert e.to_dict() == {
        "error": {"type": "ModelNotFound", "message": "model 'other' not found; this server serves 'detector'"}
    }


def test_not_ready_is_a_retriable_503() -> None:
    e = NotReady("explainer is not ready yet")
    assert isinstance(e, InferwatchError) and (e.status_code, e.retriable) == (503, True)
    assert e.to_dict()["error"]["message"] == "explainer is not ready yet"
