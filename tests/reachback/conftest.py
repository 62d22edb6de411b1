"""A seeded store (tenants A and B) with rows at chosen instants (``tests.privacy.rows.World``), SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests import dbfixtures
from tests.privacy.rows import World
from tests.support.tenants import add_tenants
from tests.support.webapp import TENANT_A, TENANT_B, seed
from uhd_telephony.store.db import Database

aiosqlite_threads_finish = dbfixtures.aiosqlite_threads_finish


@pytest.fixture
async def world(db_url: str) -> AsyncIterator[World]:
    await seed(db_url)
    await add_tenants(db_url, TENANT_A, TENANT_B)
    db = Database(db_url)
    try:
        yield World(db)
    finally:
        await db.close()
