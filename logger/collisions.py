"""Record ids that stay unique: an exchange never replaces another exchange's record.

A request id is the caller's (``x-request-id``, ``Seldon-Puid``, ``Ce-Requestid``…) and may come again: a client
retrying with the same id, a CloudEvent half re-sent after its pair was written, two requests that happen to
share one. Every sink stores one record per id, so a second exchange under the same id would silently replace the
first. ``RecordIds`` remembers the ids it handed out recently (a bounded window, ``--id-window``) and gives a
repeated one a suffix: ``<request id>~<6 hex digits>``. The exchange is flagged ``collision`` and keeps the id it
came with in its ``request_id`` tag, so the audit search finds both under that id.

Ids are claimed when an exchange is accepted, before the write-ahead log and the spools: a replay after a crash
carries the id that was given out, so sinks stay idempotent. The window is per process: loggers that share sinks
and see the same request ids (several nodes of one inference graph) tell their records apart with ``--node``.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict

from prometheus_client import Counter

from inferwatch.capture import Exchange
from inferwatch.records import COLLISION_MARK, REQUEST_ID_TAG


class RecordIds:
    """Claims a record id for each accepted exchange; thread-safe."""

    def __init__(self, window: int, collisions: Counter) -> None:
        self.window = window
        self.collisions = collisions
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, ex: Exchange) -> str:
        """Make ``ex.request_id`` an id no recent exchange has: unchanged when it is new, else suffixed (and the
        exchange flagged). Returns the record id."""
        rid = ex.request_id
        with self._lock:
            if rid in self._seen:
                self._seen.move_to_end(rid)
                rid = f"{rid}{COLLISION_MARK}{secrets.token_hex(3)}"
                ex.tags.setdefault(REQUEST_ID_TAG, ex.request_id)
                ex.request_id, ex.collision = rid, True
                self.collisions.inc()
            self._seen[rid] = None
            if len(self._seen) > self.window:
                self._seen.popitem(last=False)
        return rid

    def __len__(self) -> int:
        return len(self._seen)
