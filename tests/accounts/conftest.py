"""Account fixtures: a migrated database (SQLite file, then throwaway PostgreSQL) and its AccountService."""

from __future__ import annotations

import pytest

from tests import dbfixtures
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.store.db import Database

# the shared database fixtures, registered for this package
aiosqlite_threads_finish = dbfixtures.aiosqlite_threads_finish
db = dbfixtures.db


@pytest.fixture
def accounts(db: Database) -> AccountService:
    return AccountService(db)
