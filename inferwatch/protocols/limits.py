"""How many tensor elements one body may declare, and the overflow-free count every codec checks shapes with.

A shape is declared by the sender and costs what it declares, not what it sends: ``[2000000]`` over one value
(a shortened TF value list), or ``[2**62, 0]`` (zero elements, a batch axis no loop should walk). ``element_count``
multiplies with Python integers (no int64 wrap-around) and stops at the limit: every dimension and the product
must stay within ``max_elements``, else ``TooManyElements`` (413). The limit is process-wide, set once by each
service from its settings (``--max-elements``) together with the hook that counts refusals in its metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from inferwatch.errors import TooManyElements

DEFAULT_MAX_ELEMENTS = 10_000_000
"""The default of every service's ``--max-elements``: 80 MB of FP64, far above any real inference batch."""


@dataclass
class ElementLimit:
    max_elements: int = DEFAULT_MAX_ELEMENTS
    on_exceeded: Callable[[], object] | None = None
    """Called once per refusal (a service counts it in its metrics)."""


_LIMIT = ElementLimit()


def configure(max_elements: int, on_exceeded: Callable[[], object] | None = None) -> None:
    """Set the process-wide limit (a service's start-up; tests restore the default afterwards)."""
    if max_elements < 1:
        raise ValueError(f"max_elements must be at least 1, got {max_elements}")
    _LIMIT.max_elements, _LIMIT.on_exceeded = max_elements, on_exceeded


def enforce(max_elements: int, registry: CollectorRegistry) -> Counter:
    """A service's start-up: ``configure`` the limit, refusals counted in ``inferwatch_elements_refused_total`` on
    the service's ``registry`` (returned)."""
    counter = Counter(
        "inferwatch_elements_refused_total",
        "Bodies refused because their tensors declare more elements than --max-elements.",
        registry=registry,
    )
    configure(max_elements, counter.inc)
    return counter


def max_elements() -> int:
    return _LIMIT.max_elements


def refuse(message: str, details: dict[str, object]) -> TooManyElements:
    """The error for a body over the limit, counted by the service's hook."""
    if _LIMIT.on_exceeded is not None:
        _LIMIT.on_exceeded()
    return TooManyElements(message, details={**details, "max_elements": _LIMIT.max_elements})


def element_count(shape: list[int], where: str) -> int:
    """The number of elements of ``shape`` (non-negative ints), refused over the limit without computing more."""
    limit = _LIMIT.max_elements
    n = 1
    for dim in shape:
        if dim > limit:
            raise refuse(
                f"{where}: dimension {dim} of shape {_short(shape)} exceeds the limit of {limit:,} elements",
                {"where": where},
            )
        n *= dim
        if n > limit:
            raise refuse(f"{where}: shape {_short(shape)} declares more than {limit:,} elements", {"where": where})
    return n


def check_total(total: int, where: str) -> None:
    """The elements of all the tensors of one body (``total``) within the limit."""
    if total > _LIMIT.max_elements:
        raise refuse(
            f"{where} declare {total:,} elements in all, over the limit of {_LIMIT.max_elements:,}", {"where": where}
        )


def _short(shape: list[int]) -> str:
    text = str(shape)
    return text if len(text) <= 80 else text[:77] + "..."
