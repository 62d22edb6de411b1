"""Shared fixtures: the recorded traces, throwaway databases (SQLite file and real PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import PG_ADMIN_DSN, drop_pool, sqlite_database, throwaway_pg
from tests.support.helpers import REDIS_URL

__all__ = ["PG_ADMIN_DSN", "throwaway_pg"]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'uhd-test.db'}"


def _migrated(request: pytest.FixtureRequest) -> bool:
    """Databases start at the migrations' head (a copy of one template) unless the test is about migrating."""
    return request.node.get_closest_marker("empty_database") is None


@pytest.fixture
async def pg_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this test (migrated; empty with ``@pytest.mark.empty_database``)."""
    async with throwaway_pg(migrated=_migrated(request)) as url:
        yield url


# the PostgreSQL half counts as slow (a database per test): `pytest -m "not slow"` is the quick loop on SQLite,
# the whole suite (CI) runs both
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Runs the test once on a SQLite file and once on a throwaway PostgreSQL database, both at the migrations'
    head (empty with ``@pytest.mark.empty_database``)."""
    if request.param == "sqlite":
        yield await sqlite_database(tmp_path, migrated=_migrated(request))
        return
    async with throwaway_pg(migrated=_migrated(request)) as url:
        yield url


@pytest.fixture(autouse=True, scope="session")
def accounts_acknowledged() -> Iterator[None]:
    """The accounts a test makes (``AccountService.create``: its seeds, the admin API) have acknowledged the
    confidentiality text (§ 203 StGB), as the demo's have: a test about something else logs in and works. The
    gate itself is tests/security/test_confidentiality.py's, which takes the acknowledgement back."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from sqlalchemy import update

    from uhd_telephony.accounts import confidentiality
    from uhd_telephony.accounts.models import Account
    from uhd_telephony.accounts.service import AccountService, AccountView

    create = AccountService.create

    async def create_acknowledged(self: AccountService, *args: Any, **kwargs: Any) -> AccountView:
        view = await create(self, *args, **kwargs)
        now = datetime.now(UTC)
        async with self.db.sessionmaker() as session:
            done = {"confidentiality_version": confidentiality.VERSION, "confidentiality_at": now}
            await session.execute(update(Account).where(Account.id == view.id).values(**done))
            await session.commit()
        return replace(view, **done)

    # for the whole session: session-scoped seeds (tests/security's world) make accounts before any test's fixtures
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AccountService, "create", create_acknowledged)
        yield


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of its own; every key under it is deleted afterwards."""
    import redis

    prefix = f"uhd-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests on PostgreSQL alone (``pg_url``) are slow like ``db_url``'s PostgreSQL half."""
    for item in items:
        if "pg_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The databases this process kept for reuse are dropped. With ``UHD_TESTS_NO_SKIP=1`` (CI sets it) a skipped
    test fails the run: a missing browser, promtool or server must not turn CI green with tests left out."""
    asyncio.run(drop_pool())
    if os.environ.get("UHD_TESTS_NO_SKIP") != "1" or hasattr(session.config, "workerinput"):
        return  # only the controller (pytest-xdist) sees every worker's reports
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        reporter.write_line(f"UHD_TESTS_NO_SKIP: {len(skipped)} tests skipped, which CI does not allow:", red=True)
        for report in skipped[:50]:
            reporter.write_line(f"  {report.nodeid}: {report.longrepr}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
