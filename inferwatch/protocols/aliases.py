"""Protocol names: the canonical codec keys and the aliases peers use for them."""

from __future__ import annotations

SELDON = "seldon"
V2 = "v2"
KSERVE_V1 = "kserve-v1"
PROTOCOLS = (SELDON, V2, KSERVE_V1)

#: alias -> canonical codec key. Seldon's executor names V2 ``v2`` or ``kfserving`` (both served on /v2/).
ALIASES: dict[str, str] = {
    "seldon": SELDON,
    "seldon-v1": SELDON,
    "v2": V2,
    "oip": V2,
    "open-inference": V2,
    "open-inference-protocol": V2,
    "kserve-v2": V2,
    "kfserving": V2,
    "kserve-v1": KSERVE_V1,
    "kserve": KSERVE_V1,
    "tensorflow": KSERVE_V1,
    "tfserving": KSERVE_V1,
    "tf-serving": KSERVE_V1,
    "kfserving-v1": KSERVE_V1,
}


def normalize_protocol(name: str | None) -> str | None:
    """The canonical codec key for ``name`` (case-insensitive), or ``None`` when it is not known."""
    if not name:
        return None
    return ALIASES.get(name.strip().lower())
