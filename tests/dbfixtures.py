"""Database fixtures shared by the packages' conftests, which import them (that registers them there).

Not in tests/conftest.py because the thread guard is an async autouse fixture: only suites whose tests all run
in the event loop may use it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate


@pytest.fixture(autouse=True)
async def aiosqlite_threads_finish() -> AsyncIterator[None]:
    """Let aiosqlite's worker threads end before the test's event loop closes.

    A failed ``aiosqlite.connect`` (a SQLite file that cannot be opened) queues the stop of its worker thread
    without awaiting it; if the loop closes first, the thread dies on "Event loop is closed" and pytest reports
    it against a later test. Every test closes its engines, so each worker thread must end here.
    """
    yield
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            await asyncio.to_thread(thread.join, 5)
            assert not thread.is_alive(), f"an aiosqlite connection was left open ({thread.name})"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated database (SQLite file, then throwaway PostgreSQL), closed afterwards."""
    await migrate(db_url)
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.close()
