"""Reading back what a search sink wrote, for end-to-end tests: every document id of an index."""

from __future__ import annotations

from typing import Any


def index_ids(client: Any, index: str) -> list[str]:
    """Every document id in ``index`` (search_after paging on the request id keyword and item); ``client`` is an
    ``elasticsearch.Elasticsearch`` or ``opensearchpy.OpenSearch``."""
    client.indices.refresh(index=index)
    ids: list[str] = []
    after: list[Any] | None = None
    while True:
        body: dict[str, Any] = {"size": 5000, "sort": [{"id": "asc"}, {"item": "asc"}], "_source": False}
        if after is not None:
            body["search_after"] = after
        hits = client.search(index=index, body=body)["hits"]["hits"]
        if not hits:
            return ids
        ids.extend(h["_id"] for h in hits)
        after = hits[-1]["sort"]
