"""Redaction of configured JSON paths and feature names before any sink sees a payload.

``paths`` are dotted JSON paths from the body's root (``meta.tags.user``, ``parameters.customer_id``);
``*`` matches every key or list item (``inputs.*.parameters.user``). ``fields`` are names masked
wherever they occur: as an object key at any depth, as a named V2 input/output, and as a column of a Seldon
``data.names`` matrix (``ndarray``, ``tensor`` or ``tftensor``).

Masking keeps the body decodable, so that everything not masked stays in the record:

- a masked value becomes ``mask`` (``"[REDACTED]"``); a list is masked element by element, keeping its nesting
  (an array keeps its shape, a batch its length); an object is masked whole (none of its keys survive);
- a masked V2 tensor keeps its ``name``, ``shape`` and ``parameters`` and becomes ``BYTES`` with one mask per
  element: BYTES accepts any text of any shape, where a numeric sentinel (0, NaN) would pass for a real value
  and V2 has none for integers (``binary_data_size`` is dropped: the data is inline now);
- a Seldon column is masked at its row-major positions: in ``ndarray`` rows, in ``tensor.values`` and in the
  ``tftensor`` value list (``tensorContent`` is first written out as that list); the Seldon codec accepts the
  mask there (``inferwatch.protocols.datatypes.REDACTED``). A matrix whose width does not match its ``names``
  is masked whole: the column cannot be located.

What has no name cannot be matched: unnamed ``ndarray`` columns, positional arrays (an explanation's
``raw.instance``) and the content of opaque values (``strData`` text, ``binData``, V2 ``BYTES`` elements, KServe
``{"b64": ...}``) are left as they are.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import numpy as np

from inferwatch.errors import CodecError
from inferwatch.protocols import tftensor
from inferwatch.protocols.datatypes import BYTES, REDACTED, size_of
from inferwatch.protocols.v2_binary import BINARY_DATA_SIZE

DEFAULT_MASK = REDACTED
_V2_TENSOR = frozenset({"name", "datatype", "data"})


class Redactor:
    """Masks values in parsed JSON bodies.

    ``redact`` returns a masked copy, or ``None`` if nothing matched. Masking is idempotent, and a value that is
    already masked still counts as matched (a body or tags masked before, e.g. for the write-ahead log, are
    still reported as redacted)."""

    def __init__(self, paths: Iterable[str] = (), fields: Iterable[str] = (), mask: Any = DEFAULT_MASK) -> None:
        self.paths = [p.split(".") for p in paths if p]
        self.fields = frozenset(fields)
        self.mask = mask

    def __bool__(self) -> bool:
        return bool(self.paths or self.fields)

    def redact(self, body: Any) -> Any | None:
        """A masked copy of a parsed body (paths and fields), or ``None`` if nothing matched."""
        out = copy.deepcopy(body)
        hits = sum(self._path(out, parts) for parts in self.paths)
        if self.fields:
            hits += self._fields(out)
        return out if hits else None

    def mask_fields(self, obj: Any) -> Any | None:
        """A copy of ``obj`` with ``fields`` masked as keys at any depth (for tags and CloudEvents ``metadata``,
        which are no body: ``paths`` do not apply), or ``None`` if nothing matched."""
        if not self.fields:
            return None
        out = copy.deepcopy(obj)
        return out if self._fields(out) else None

    # --- paths ---------------------------------------------------------------------------------------------

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
            elif isinstance(node, dict) and k == "data" and _is_v2_tensor(node):
                hits += self._mask_tensor(node)
            else:
                node[k] = self._like(node[k])
                hits += 1
        return hits

    # --- fields --------------------------------------------------------------------------------------------

    def _fields(self, node: Any) -> int:
        hits = 0
        if isinstance(node, dict):
            hits += self._seldon_columns(node) + self._named_tensor(node)
            for k, v in node.items():
                if k in self.fields:
                    node[k] = self._like(v)
                    hits += 1
                else:
                    hits += self._fields(v)
        elif isinstance(node, list):
            for v in node:
                hits += self._fields(v)
        return hits

    def _named_tensor(self, node: dict[str, Any]) -> int:
        """A V2 input/output (``{"name", "datatype", "data"}``) whose name is a redacted field."""
        name = node.get("name")
        if isinstance(name, str) and name in self.fields and _is_v2_tensor(node):
            return self._mask_tensor(node)
        return 0

    def _mask_tensor(self, node: dict[str, Any]) -> int:
        """A V2 tensor's data as ``BYTES`` masks of the same shape (see the module doc)."""
        node["data"] = self._like(node["data"])
        node["datatype"] = BYTES
        params = node.get("parameters")
        if isinstance(params, dict):
            params.pop(BINARY_DATA_SIZE, None)
        return 1

    def _seldon_columns(self, node: dict[str, Any]) -> int:
        """Columns of a Seldon ``{"names": [...], "ndarray" | "tensor" | "tftensor": ...}`` named by a field."""
        names = node.get("names")
        if not isinstance(names, list):
            return 0
        cols = [j for j, n in enumerate(names) if isinstance(n, str) and n in self.fields]
        if not cols:
            return 0
        if isinstance(node.get("ndarray"), list):
            return self._ndarray_columns(node["ndarray"], cols, len(names))
        if isinstance(node.get("tensor"), dict):
            return self._flat_columns(node["tensor"], "values", node["tensor"].get("shape"), cols, len(names))
        if isinstance(node.get("tftensor"), dict):
            return self._tftensor_columns(node, cols, len(names))
        return 0

    def _ndarray_columns(self, rows: list[Any], cols: list[int], width: int) -> int:
        if rows and not any(isinstance(r, list) for r in rows):  # one row of scalars: its values are the columns
            return self._flat_columns({"v": rows}, "v", [len(rows)], cols, width)
        hits = 0
        for row in rows:
            if isinstance(row, list):
                for j in cols:
                    if j < len(row):
                        row[j] = self._like(row[j])
                        hits += 1
        return hits

    def _flat_columns(self, doc: dict[str, Any], key: str, shape: Any, cols: list[int], width: int) -> int:
        """Row-major ``doc[key]`` of a ``shape`` matrix whose last axis is the ``width`` named columns."""
        values = doc.get(key)
        if not isinstance(values, list):
            return 0
        fits = isinstance(shape, list) and bool(shape) and shape[-1] == width and len(values) == _size(shape)
        where = [i for i in range(len(values)) if i % width in cols] if fits else range(len(values))
        for i in where:
            values[i] = self.mask
        return len(where)

    def _tftensor_columns(self, node: dict[str, Any], cols: list[int], width: int) -> int:
        """A ``tftensor``'s named columns, in its value list (``tensorContent`` is written out as that list)."""
        try:
            doc, key, shape = tftensor.as_value_list(node["tftensor"])
        except CodecError:  # not a tensor we can read: nothing of it can be told apart
            node["tftensor"] = self.mask
            return 1
        hits = self._flat_columns(doc, key, shape, cols, width)
        if hits:
            node["tftensor"] = doc
        return hits

    # --- values --------------------------------------------------------------------------------------------

    def _like(self, value: Any) -> Any:
        """``value`` masked: lists element-wise (shape kept), anything else whole."""
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if isinstance(value, list | tuple):
            return [self._like(v) for v in value]
        return self.mask


def _is_v2_tensor(node: dict[str, Any]) -> bool:
    return node.keys() >= _V2_TENSOR and isinstance(node.get("datatype"), str)


def _size(shape: list[Any]) -> int:
    try:
        return size_of([int(d) for d in shape])
    except (TypeError, ValueError):
        return -1
