"""Ticket fixtures: a migrated database on SQLite and PostgreSQL, a ticket service with a steady clock, calls."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from tests.tickets.webapp import app_client, client, other, seeded, seeded_any  # noqa: F401  (fixtures, registered here)
from uhd_telephony.calls.records import CallRecord
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tickets.categories import DEFAULT_CATEGORIES
from uhd_telephony.tickets.service import TicketService

EXAMPLE_CATEGORIES = DEFAULT_CATEGORIES
TENANT = "klinikum-nord"
OTHER = "klinikum-sued"
# 2026-03-02 08:00 UTC (09:00 in Berlin)
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

MakeCall = Callable[..., CallRecord]
T = TypeVar("T")


async def all_of(*attempts: Awaitable[T]) -> list[T]:
    """Run the attempts at once and wait for every one before raising the first error (no task outlives a test)."""
    results = await asyncio.gather(*attempts, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


@pytest.fixture(autouse=True)
async def _aiosqlite_threads_finish() -> AsyncIterator[None]:
    """Let aiosqlite's worker threads end before the loop closes (see tests/store/conftest.py)."""
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


class Clock:
    """A clock that moves one second per reading, so creation order is time order."""

    def __init__(self, start: datetime = T0) -> None:
        self._ticks = itertools.count()
        self.start = start

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=next(self._ticks))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(db: Database, clock: Clock) -> TicketService:
    return TicketService(db, now=clock)


def _make_call(n: int = 1, *, tenant: str = TENANT, queue: str = "hotline", **overrides: Any) -> CallRecord:
    """The answered call number ``n``: its own Linkedid unless one is given."""
    values: dict[str, Any] = {
        "call_id": f"1772438400.{n}@{queue}",
        "linkedid": f"1772438400.{n}",
        "uniqueid": f"1772438400.{n}",
        "queue": queue,
        "tenant": tenant,
        "entered_at": 1772438400.0 + n,
        "caller_number": f"+49301234{n:04d}",
        "caller_name": "Jürgen Müller",
        "answered_at": 1772438412.5 + n,
        "agent": "Agent Anna",
        "agent_interface": "PJSIP/agent-anna",
    }
    values.update(overrides)
    return CallRecord(**values)


@pytest.fixture
def make_call() -> MakeCall:
    return _make_call
