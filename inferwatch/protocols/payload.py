"""The decoded form every codec produces and consumes: named tensors plus the message-level fields.

``Tensor.data`` is a numpy array shaped like ``Tensor.shape`` for numeric and BOOL datatypes, and a
row-major flat list of elements (``str``, ``bytes`` or any JSON value) for ``BYTES``. ``extra`` fields hold
wire-layout hints a codec needs to re-encode a body exactly (only set when they differ from the default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inferwatch.errors import InvalidTensor
from inferwatch.protocols.datatypes import BYTES, element_json, nest, size_of, to_lists


@dataclass(eq=False)
class Tensor:
    """One named input or output (a V2 tensor, a Seldon ``data`` array, a KServe v1 column...)."""

    name: str
    datatype: str
    shape: list[int]
    data: np.ndarray[Any, Any] | list[Any]
    parameters: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tensor):
            return NotImplemented
        if (self.name, self.datatype, list(self.shape), self.parameters, self.extra) != (
            other.name,
            other.datatype,
            list(other.shape),
            other.parameters,
            other.extra,
        ):
            return False
        a, b = self.data, other.data
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            return a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
        if isinstance(a, list) and isinstance(b, list):
            return a == b
        return False

    __hash__ = None  # type: ignore[assignment]

    @property
    def has_bytes(self) -> bool:
        return isinstance(self.data, list) and any(isinstance(v, bytes | bytearray) for v in self.data)

    def nested(self) -> Any:
        """The data as JSON-able nested lists following ``shape`` (bytes as base64 text)."""
        if isinstance(self.data, np.ndarray):
            return to_lists(self.data)
        flat = [element_json(v) for v in self.data] if self.has_bytes else self.data
        if size_of(self.shape) == len(flat):
            return nest(flat, self.shape)
        return list(flat)

    def batch_size(self) -> int:
        return self.shape[0] if self.shape else 1

    def to_json(self) -> dict[str, Any]:
        """JSON-able form for storage and search. ``encoding: base64`` marks bytes rendered as base64 text."""
        out: dict[str, Any] = {
            "name": self.name,
            "datatype": self.datatype,
            "shape": list(self.shape),
            "data": self.nested(),
        }
        if self.parameters:
            out["parameters"] = self.parameters
        if self.datatype == BYTES and self.has_bytes:
            out["encoding"] = "base64"
        return out


@dataclass(eq=False)
class Payload:
    """One decoded request or response body."""

    protocol: str
    kind: str
    tensors: list[Tensor]
    names: list[str] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Payload):
            return NotImplemented
        return (
            self.protocol == other.protocol
            and self.kind == other.kind
            and self.tensors == other.tensors
            and self.names == other.names
            and self.parameters == other.parameters
            and self.id == other.id
            and self.model_name == other.model_name
            and self.model_version == other.model_version
            and self.extra == other.extra
            and self.error == other.error
        )

    __hash__ = None  # type: ignore[assignment]

    def tensor(self, name: str) -> Tensor:
        """The first tensor called ``name``."""
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-able dict per instance of the batch (axis 0 of every tensor).

        Keys are feature names: ``names`` when the payload has a single tensor whose rows are that wide,
        else ``<tensor>`` for one value per instance and ``<tensor>_<j>`` for the j-th column of a row.
        Raises ``InvalidTensor`` (a ``CodecError``, 422) when the tensors disagree on the batch size.
        """
        if not self.tensors:
            return []
        n = self._batch_size()
        rows: list[dict[str, Any]] = [{} for _ in range(n)]
        names = self.names if len(self.tensors) == 1 else None
        for t in self.tensors:
            _fill_rows(rows, t, names)
        return rows

    def _batch_size(self) -> int:
        sizes = {t.batch_size() for t in self.tensors}
        if len(sizes) > 1:
            detail = ", ".join(f"{t.name}={t.batch_size()}" for t in self.tensors)
            raise InvalidTensor(
                f"inputs disagree on the batch size ({detail}): every input needs one value (row) per instance",
                details={"batch_sizes": {t.name: t.batch_size() for t in self.tensors}},
            )
        return sizes.pop()

    def check_batch(self) -> int:
        """The number of instances, for a service that reads the payload as one batch (a detector, an explainer).

        ``InvalidTensor`` (422) names what makes it no batch: no tensor, a scalar tensor (shape ``[]``: no
        instance axis), tensors that disagree on the batch size, or ragged instances (rows of different lengths,
        decoded as a ``BYTES`` tensor of lists)."""
        if not self.tensors:
            raise InvalidTensor("the request holds no instances")
        for t in self.tensors:
            if not t.shape:
                raise InvalidTensor(
                    f"input {t.name!r} has shape [] (a scalar, no instance axis): send a batch, e.g. shape [1] "
                    "or [1, features]",
                    details={"input": t.name, "shape": []},
                )
            if isinstance(t.data, list) and any(isinstance(v, list) for v in t.data):
                lengths = sorted({len(v) if isinstance(v, list) else 1 for v in t.data})
                raise InvalidTensor(
                    f"input {t.name!r} is ragged: its instances have different lengths ({_lengths(lengths)})",
                    details={"input": t.name, "lengths": lengths[:10]},
                )
        return self._batch_size()

    def to_json(self) -> dict[str, Any]:
        """JSON-able decoded form (tensors as nested lists) used for storage and search."""
        return {
            "protocol": self.protocol,
            "kind": self.kind,
            "id": self.id,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "names": self.names,
            "parameters": self.parameters,
            "tensors": [t.to_json() for t in self.tensors],
            "error": self.error,
            "extra": self.extra,
        }


def _fill_rows(rows: list[dict[str, Any]], t: Tensor, names: list[str] | None) -> None:
    nested = t.nested()
    if not t.shape:  # a scalar tensor is one instance
        rows[0][_single_key(t, names)] = nested
        return
    if len(t.shape) == 1 or not isinstance(nested, list):
        key = _single_key(t, names)
        for i, value in enumerate(nested):
            rows[i][key] = value
        return
    width = t.shape[1]
    if len(t.shape) == 2 and width == 1 and not (names and len(names) == 1):
        for i, row in enumerate(nested):
            rows[i][t.name] = row[0] if isinstance(row, list) and row else row
        return
    if len(t.shape) == 2:
        keys = names if names and len(names) == width else [f"{t.name}_{j}" for j in range(width)]
        for i, row in enumerate(nested):
            rows[i].update(zip(keys, row, strict=False))
        return
    for i, value in enumerate(nested):  # higher rank: one nested value per instance
        rows[i][t.name] = value


def _lengths(lengths: list[int]) -> str:
    return ", ".join(map(str, lengths[:10])) + (", ..." if len(lengths) > 10 else "")


def _single_key(t: Tensor, names: list[str] | None) -> str:
    return names[0] if names and len(names) == 1 else t.name
