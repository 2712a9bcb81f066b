"""Which record of a batch wrote which document of one bulk write, so the search sink can trace each refused bulk
item back to its record (``RecordsRejected`` positions), and which indices took documents in that write (a
mapping refusal in an index that took the batch's other documents is the document's fault, not the index's).
"""

from __future__ import annotations

from typing import Any


class DocumentOwners:
    """Which record wrote which document in one write, and which indices took documents."""

    def __init__(self) -> None:
        self._by_doc: dict[tuple[str, str], list[int]] = {}
        self._by_id: dict[str, list[int]] = {}
        self._took: set[str] = set()
        self.owned: dict[str, bool] = {}
        """Index → created from inferwatch's template (``SearchSink._owned``)."""

    def add(self, position: int, actions: list[dict[str, Any]]) -> None:
        """The record at ``position`` writes the documents of ``actions``."""
        for action in actions:
            index, doc_id = str(action["_index"]), str(action["_id"])
            self._by_doc.setdefault((index, doc_id), []).append(position)
            self._by_id.setdefault(doc_id, []).append(position)

    def positions(self, item: dict[str, Any]) -> list[int]:
        """The records whose document a bulk result is about (by index and id; by id alone for an alias)."""
        doc_id = str(item.get("_id"))
        return self._by_doc.get((str(item.get("_index")), doc_id)) or self._by_id.get(doc_id, [])

    def all(self) -> list[int]:
        """Every record position that wrote a document."""
        return sorted({p for ps in self._by_id.values() for p in ps})

    def took(self, index: str) -> None:
        """``index`` accepted a document of this write."""
        self._took.add(index)

    def took_any(self, index: str) -> bool:
        """Whether ``index`` accepted any document of this write."""
        return index in self._took
