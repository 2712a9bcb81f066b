"""A sink's blocked state: its destination refuses writes until a person acts (``inferwatch.sinks.failures``).

While blocked, the worker keeps the sink's records in its spool and probes every ``probe`` seconds (longer than
the pause after a passing failure: nothing changes until someone acts). The state says what to do in three
places: one ERROR line when the block starts (not one per batch), the sink's health detail
(``/health/ready``), and the gauge ``inferwatch_sink_blocked{sink,reason}`` (1 while blocked) an alert can use.
The first write that goes through again clears it, with one INFO line.

Set and cleared by the worker thread; ``current`` may be read from any thread.
"""

from __future__ import annotations

import logging

from inferwatch.delivery.metrics import DeliveryMetrics
from inferwatch.sinks.failures import Block

log = logging.getLogger("inferwatch.delivery")


class BlockedState:
    """Whether one sink is blocked, and why; keeps the log line, health and gauge in step."""

    def __init__(self, sink: str, metrics: DeliveryMetrics, probe: float) -> None:
        self.sink = sink
        self.metrics = metrics
        self.probe = probe
        """Seconds between two probes of a blocked sink."""
        self.current: Block | None = None

    def set(self, block: Block) -> None:
        """Blocked for ``block``: logged (with the remedy) only when the reason or the remedy changes."""
        old = self.current
        if old is not None and (old.reason, old.remedy) == (block.reason, block.remedy):
            return
        if old is not None and old.reason != block.reason:
            self.metrics.sink_blocked.labels(self.sink, old.reason).set(0)
        self.current = block
        self.metrics.sink_blocked.labels(self.sink, block.reason).set(1)
        log.error(
            "sink %s is blocked (%s): %s. Its records stay in the spool and are delivered once this is fixed "
            "(probed every %gs).",
            self.sink,
            block.reason,
            block.describe(),
            self.probe,
        )

    def clear(self) -> None:
        """Writes go through again."""
        old = self.current
        if old is None:
            return
        self.current = None
        self.metrics.sink_blocked.labels(self.sink, old.reason).set(0)
        log.info("sink %s is no longer blocked (%s): delivering again", self.sink, old.reason)

    def detail(self) -> str | None:
        """The health detail while blocked, else ``None``."""
        block = self.current
        return None if block is None else f"blocked ({block.reason}): {block.describe()}"
