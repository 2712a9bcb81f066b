"""Which wire format an HTTP path speaks, and the model it names.

Paths may carry an ingress prefix (``/seldon/<ns>/<deployment>/api/v1.0/predictions``) and a query string.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from inferwatch.protocols.aliases import KSERVE_V1, SELDON, V2

_SELDON = re.compile(
    r"(?:^|/)(?:api/v0\.1|api/v1\.0)/(?:predictions|feedback|explain)/?$"
    r"|(?:^|/)(?:predict|transform-input|transform-output|send-feedback|route|aggregate)/?$"
)
_V2 = re.compile(r"(?:^|/)v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?/(?:infer|explain)/?$")
_KSERVE_V1 = re.compile(
    r"(?:^|/)v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+)|/labels/[^/:]+)?:(?:predict|explain)$"
)
_TABLE = ((_V2, V2), (_KSERVE_V1, KSERVE_V1), (_SELDON, SELDON))


def _strip(path: str) -> str:
    return path.split("?", 1)[0].split("#", 1)[0]


def protocol_for_path(path: str) -> str | None:
    """``seldon`` / ``v2`` / ``kserve-v1`` for the inference endpoints of each protocol, else ``None``."""
    p = _strip(path)
    for pattern, protocol in _TABLE:
        if pattern.search(p):
            return protocol
    return None


def model_from_path(path: str) -> tuple[str | None, str | None]:
    """``(model name, version)`` from V2 and KServe v1 / TF-Serving paths, ``(None, None)`` otherwise."""
    p = _strip(path)
    for pattern in (_V2, _KSERVE_V1):
        m = pattern.search(p)
        if m:
            version = m.group("version")
            return unquote(m.group("name")), unquote(version) if version else None
    return None, None
