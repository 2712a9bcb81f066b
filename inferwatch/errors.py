"""One error root for the whole project.

Every error carries the HTTP status a caller should see and a message that says what to do next.
Services install one exception handler (``inferwatch.web.install_error_handler``) that turns them
into ``{"error": {"type", "message", "details"}}`` JSON bodies.
"""

from __future__ import annotations

from typing import Any


class InferwatchError(Exception):
    """Root of every error raised on purpose by inferwatch."""

    status_code: int = 500
    retriable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        details: dict[str, Any] | None = None,
        retriable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if retriable is not None:
            self.retriable = retriable
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON body an HTTP caller receives."""
        body: dict[str, Any] = {"type": type(self).__name__, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class BadRequest(InferwatchError):
    """The caller sent something we cannot accept (malformed JSON, wrong shape...)."""

    status_code = 400


class NotFound(InferwatchError):
    """What the caller asked for does not exist here (a model, a request id...)."""

    status_code = 404


class ModelNotFound(NotFound):
    """A request names a model this server does not serve; the message names both."""

    def __init__(self, name: str, served: str) -> None:
        super().__init__(f"model {name!r} not found; this server serves {served!r}")
        self.name = name
        self.served = served


class NotReady(InferwatchError):
    """The service cannot answer yet, or a store it needs is unavailable: trying again later may help."""

    status_code = 503
    retriable = True


class PayloadTooLarge(InferwatchError):
    status_code = 413


class LimitExceeded(InferwatchError):
    """A request crossed one of the transport limits (``inferwatch.limits``). ``limit`` names it — the label of
    ``inferwatch_http_rejected_total`` — and the message names the flag that sets it."""

    status_code = 413

    def __init__(self, limit: str, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message, status_code=status_code, details={"limit": limit})
        self.limit = limit


class UnprocessableEntity(InferwatchError):
    """Well-formed but semantically wrong input, e.g. wrong feature count."""

    status_code = 422


class CodecError(BadRequest):
    """A payload does not follow the wire format it claims to follow."""


class InvalidTensor(CodecError):
    """A tensor parses but its declared shape or datatype disagrees with its data (value count, a value out of
    its datatype's range, a ragged array): 422, the message names the input and the datatype."""

    status_code = 422


class InvalidProtobuf(CodecError):
    """Bytes that are not the protobuf message they should be (truncated, random, another message, a framing left
    on): the message names the expected message type and what was wrong; ``details`` the type and the size."""


class TooManyElements(CodecError):
    """A request declares more tensor elements than the configured limit (``--max-elements``)."""

    status_code = 413


class UnknownProtocol(BadRequest):
    """No codec is registered under the requested protocol name."""


class UpstreamError(InferwatchError):
    """The model server (or another peer) is unreachable or failed."""

    status_code = 502
    retriable = True


class UpstreamTimeout(InferwatchError):
    status_code = 504
    retriable = True


class SinkError(InferwatchError):
    """A sink could not accept a batch. ``retriable`` says whether trying again may help."""

    status_code = 503
    retriable = True


class ConfigError(InferwatchError):
    """Invalid settings or arguments: the CLI prints the message and exits with status 2."""

    status_code = 500
