"""Directory fixtures: a migrated database (SQLite file, then throwaway PostgreSQL) and entry factories."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated database, closed afterwards."""
    await migrate(db_url)
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.close()
