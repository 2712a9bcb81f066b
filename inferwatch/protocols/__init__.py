"""Protocol codecs, one per wire format, chosen from a table.

``CODECS`` maps the canonical protocol names to their codec; ``get_codec`` also accepts aliases
(``tensorflow``, ``kserve``, ``oip``...). ``decode_body`` is what the logger calls on captured bytes.
"""

from __future__ import annotations

from inferwatch.errors import UnknownProtocol
from inferwatch.limits import MAX_JSON_DEPTH
from inferwatch.protocols import decode as _decode
from inferwatch.protocols.aliases import ALIASES, KSERVE_V1, PROTOCOLS, SELDON, V2, normalize_protocol
from inferwatch.protocols.base import Codec
from inferwatch.protocols.decode import UNKNOWN, Decoded
from inferwatch.protocols.kserve_v1 import KServeV1Codec
from inferwatch.protocols.paths import model_from_path, protocol_for_path
from inferwatch.protocols.payload import Payload, Tensor
from inferwatch.protocols.seldon import SeldonCodec
from inferwatch.protocols.v2 import V2Codec

#: canonical protocol name -> codec (sniffing tries them in this order)
CODECS: dict[str, Codec] = {
    V2: V2Codec(),
    SELDON: SeldonCodec(),
    KSERVE_V1: KServeV1Codec(),
}


def get_codec(name: str) -> Codec:
    """The codec for a protocol name or alias; ``UnknownProtocol`` lists the known names."""
    key = normalize_protocol(name)
    if key is None or key not in CODECS:
        known = sorted(set(CODECS) | set(ALIASES))
        raise UnknownProtocol(f"unknown protocol {name!r}; known: {', '.join(known)}", details={"known": known})
    return CODECS[key]


def decode_body(
    raw: bytes,
    *,
    kind: str,
    protocol: str | None = None,
    path: str | None = None,
    content_type: str | None = None,
    header_length: int | None = None,
    max_depth: int = MAX_JSON_DEPTH,
) -> Decoded:
    """Decode a captured body; never raises for bad input (see ``Decoded.error``).

    The codec is chosen by the ``protocol`` hint (name or alias), else the ``path``, else by sniffing the
    JSON. An empty body gives ``error == "empty body"``. ``header_length``: the body's
    ``Inference-Header-Content-Length`` (V2 binary tensor extension, ``inferwatch.protocols.v2_binary``).
    JSON nested deeper than ``max_depth`` (``--max-json-depth``) is not decoded: ``Decoded.limit`` says so.
    """
    return _decode.decode_body(
        raw,
        CODECS,
        kind=kind,
        protocol=protocol,
        path=path,
        content_type=content_type,
        header_length=header_length,
        max_depth=max_depth,
    )


__all__ = [
    "ALIASES",
    "CODECS",
    "KSERVE_V1",
    "PROTOCOLS",
    "SELDON",
    "UNKNOWN",
    "V2",
    "Codec",
    "Decoded",
    "Payload",
    "Tensor",
    "decode_body",
    "get_codec",
    "model_from_path",
    "normalize_protocol",
    "protocol_for_path",
]
