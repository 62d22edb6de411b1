"""Fixtures of issue 20's works-council and confidentiality rules: the seeded web app (anna, ben: agents of tenant
A; carl: tenant B), an admin, a data-protection officer of tenant A, and a way to take an acknowledgement back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update

from tests.support.webapp import PASSWORD, TENANT_A, seed, web_settings
from uhd_telephony.accounts.models import Account
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.app.web import init_app
from uhd_telephony.audit.models import AuditEntry
from uhd_telephony.store.db import Database

Browsers = Callable[[], Awaitable[TestClient]]


async def make_account(url: str, username: str, role: str, tenants: list[str]) -> int:
    async with Database(url) as db:
        view = await AccountService(db).create(username, PASSWORD, display_name=username.title(), role=role,
                                               tenants=tenants)  # fmt: skip
    return int(view.id)


async def unacknowledge(url: str, username: str) -> None:
    """The account has not acknowledged the confidentiality text (as every account after migration 0025)."""
    async with Database(url) as db, db.sessionmaker() as session:
        undo = {"confidentiality_version": None, "confidentiality_at": None}
        await session.execute(update(Account).where(Account.username == username).values(**undo))
        await session.commit()


async def audit_count(url: str, action: str) -> int:
    async with Database(url) as db, db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).where(AuditEntry.action == action)) or 0)


async def audit_rows(url: str, action: str) -> list[AuditEntry]:
    async with Database(url) as db, db.sessionmaker() as session:
        return list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
        )


@pytest.fixture
async def web(db_url: str, aiohttp_client: Any) -> AsyncIterator[tuple[Browsers, str]]:
    """(a factory of logged-out browsers on one running app, the database URL), seeded, with the admin ``olga`` and
    the data-protection officer ``dora`` of tenant A."""
    await seed(db_url)
    await make_account(db_url, "olga", "admin", [])
    await make_account(db_url, "dora", "dpo", [TENANT_A])
    first = await aiohttp_client(init_app(web_settings(db_url)))
    opened: list[TestClient] = []

    async def browser() -> TestClient:
        if not opened:
            opened.append(first)
            return first
        other = TestClient(first.server, cookie_jar=CookieJar(unsafe=True))
        await other.start_server()  # the server runs already: this only opens the session
        opened.append(other)
        return other

    yield browser, db_url
    for other in opened[1:]:
        await other.session.close()  # the server belongs to the first
