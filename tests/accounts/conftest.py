"""Account fixtures: a migrated database (SQLite file, then throwaway PostgreSQL) and its AccountService."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from uhd_telephony.accounts.service import AccountService
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate


@pytest.fixture(autouse=True)
async def _aiosqlite_threads_finish() -> AsyncIterator[None]:
    """Every engine is closed by the test: its aiosqlite worker threads must end before the loop does."""
    yield
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            await asyncio.to_thread(thread.join, 5)
            assert not thread.is_alive(), f"an aiosqlite connection was left open ({thread.name})"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated database, closed afterwards."""
    await migrate(db_url)
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def accounts(db: Database) -> AccountService:
    return AccountService(db)
