"""Directory fixtures: a migrated database (SQLite file, then throwaway PostgreSQL), a real slapd."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.slapd import Slapd, available, running_slapd
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


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """A real OpenLDAP server for this test process (each test writes under an OU of its own)."""
    if not available():
        pytest.skip("Debian's slapd (/usr/sbin/slapd, its schemas in /etc/ldap/schema) is not installed")
    with running_slapd(tmp_path_factory.mktemp("slapd") / "server") as server:
        yield server
