"""A category's id by its path in a tenant's tree, for tests."""

from __future__ import annotations

from typing import Any

from uhd_telephony.store.db import Database
from uhd_telephony.tickets.categories import category_tree


async def _category_id(db: Database, tenant: str, path: str) -> int:
    def find(nodes: list[dict[str, Any]]) -> int | None:
        for node in nodes:
            if node["path"] == path:
                return int(node["id"])
            found = find(node["children"])
            if found is not None:
                return found
        return None

    found = find(await category_tree(db, tenant))
    assert found is not None, path
    return found
