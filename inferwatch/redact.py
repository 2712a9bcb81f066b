"""Redaction of configured JSON paths and feature names before any sink sees a payload.

``paths`` are dotted JSON paths from the body's root (``meta.tags.user``, ``parameters.customer_id``);
``*`` matches every key or list item (``inputs.*.parameters.user``). ``fields`` are names masked
wherever they occur: as an object key at any depth, as a named V2 input/output (its ``data``), and as a
column of a Seldon ``data.names`` matrix. Masked values become ``mask`` (``"[REDACTED]"`` by default).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

DEFAULT_MASK = "[REDACTED]"


class Redactor:
    """Masks values in parsed JSON bodies.

    ``redact`` returns a masked copy, or ``None`` if nothing matched."""

    def __init__(self, paths: Iterable[str] = (), fields: Iterable[str] = (), mask: Any = DEFAULT_MASK) -> None:
        self.paths = [p.split(".") for p in paths if p]
        self.fields = frozenset(fields)
        self.mask = mask

    def __bool__(self) -> bool:
        return bool(self.paths or self.fields)

    def redact(self, body: Any) -> Any | None:
        out = copy.deepcopy(body)
        hits = sum(self._path(out, parts) for parts in self.paths)
        if self.fields:
            hits += self._fields(out)
        return out if hits else None

    def _path(self, node: Any, parts: list[str]) -> int:
        head, rest = parts[0], parts[1:]
        keys: Iterable[Any]
        if isinstance(node, dict):
            keys = list(node) if head == "*" else [head] if head in node else []
        elif isinstance(node, list):
            if head == "*":
                keys = range(len(node))
            elif head.isdigit() and int(head) < len(node):
                keys = [int(head)]
            else:
                keys = []
        else:
            return 0
        hits = 0
        for k in keys:
            if rest:
                hits += self._path(node[k], rest)
            else:
                node[k] = self.mask
                hits += 1
        return hits

    def _fields(self, node: Any) -> int:
        hits = 0
        if isinstance(node, dict):
            hits += self._seldon_columns(node) + self._named_tensor(node)
            for k, v in node.items():
                if k in self.fields and v != self.mask:
                    node[k] = self.mask
                    hits += 1
                else:
                    hits += self._fields(v)
        elif isinstance(node, list):
            for v in node:
                hits += self._fields(v)
        return hits

    def _named_tensor(self, node: dict[str, Any]) -> int:
        """A V2 input/output (``{"name", "datatype", "data"}``) whose name is a redacted field."""
        if node.get("name") in self.fields and "data" in node and node["data"] != self.mask:
            node["data"] = self.mask
            return 1
        return 0

    def _seldon_columns(self, node: dict[str, Any]) -> int:
        """Columns of a Seldon ``{"names": [...], "ndarray": [[...]]}`` matrix named by a redacted field."""
        names, rows = node.get("names"), node.get("ndarray")
        if not isinstance(names, list) or not isinstance(rows, list):
            return 0
        cols = [j for j, n in enumerate(names) if n in self.fields]
        hits = 0
        for row in rows:
            if isinstance(row, list):
                for j in cols:
                    if j < len(row):
                        row[j] = self.mask
                        hits += 1
        return hits
