"""Directory fixtures: a migrated database (SQLite file, then throwaway PostgreSQL) and entry factories."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.records import Phone, Place, User
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate

TENANT = "klinikum-nord"
PLAN = NumberingPlan("DE")


def phone(raw: str, kind: str = "desk", plan: NumberingPlan = PLAN) -> Phone:
    """A phone as an import stores it: normalised key and the text it was given as."""
    key = plan.normalise(raw)
    assert key is not None, raw
    return Phone(kind, key, raw)


def user(external_id: str, name: str, *phones: Phone, tenant: str = TENANT, **fields: Any) -> User:
    return User(tenant, external_id, name, phones=phones, **fields)


def place(external_id: str, name: str, *phones: Phone, tenant: str = TENANT, **fields: Any) -> Place:
    return Place(tenant, external_id, name, phones=phones, **fields)


def at(day: int) -> datetime:
    return datetime(2024, 11, day, 8, 0, tzinfo=UTC)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated database, closed afterwards."""
    await migrate(db_url)
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.close()
