"""The one small interface every wire-format codec implements."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from inferwatch.protocols.payload import Payload

REQUEST = "request"
RESPONSE = "response"


class Codec(Protocol):
    """Decodes a parsed JSON body into a ``Payload`` and encodes a ``Payload`` back into the same JSON.

    ``decode_*`` raise ``inferwatch.errors.CodecError`` with a precise reason when the body does not
    follow the format; ``encode_*(decode_*(x)) == x`` holds for bodies that do.
    """

    name: ClassVar[str]

    def matches(self, body: Any) -> bool:
        """Cheap sniff: does this parsed JSON body look like this format?"""
        ...

    def decode_request(self, body: Any) -> Payload: ...

    def decode_response(self, body: Any) -> Payload: ...

    def encode_request(self, payload: Payload) -> dict[str, Any]: ...

    def encode_response(self, payload: Payload) -> dict[str, Any]: ...
