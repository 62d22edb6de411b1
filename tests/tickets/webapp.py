"""The seeded web app for the ticket API tests, on SQLite or PostgreSQL, and a small client that knows its CSRF token.

tests/tickets/conftest.py imports the fixtures (that registers them for the package), the web ones included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from tests.support.webapp import PASSWORD, TENANT_A, Seeded, app_of, login, seed, web_settings
from tests.web.conftest import client, other, seeded
from uhd_telephony.app.web import init_app
from uhd_telephony.tickets.models import Ticket, TicketHistory
from uhd_telephony.web import keys

__all__ = ["Api", "app_client", "client", "counts", "other", "second_browser", "seeded", "seeded_any"]


@dataclass
class Api:
    """One logged-in browser: JSON helpers that send the CSRF token and name the tenant."""

    client: TestClient
    csrf: str = ""
    tenant: str = TENANT_A
    account: dict[str, Any] = field(default_factory=dict)

    async def login(self, username: str) -> Api:
        self.csrf = await login(self.client, username, PASSWORD)
        self.account = (await (await self.client.get("/api/me")).json())["account"]
        return self

    def url(self, rest: str = "", tenant: str | None = None) -> str:
        return f"/api/tenants/{tenant or self.tenant}{rest}"

    async def call(self, method: str, path: str, body: Any = None, *, expect: int | None = None) -> Any:
        headers = {"X-CSRF-Token": self.csrf}
        response = await self.client.request(method, path, json=body, headers=headers)
        payload = await response.json()
        if expect is not None:
            assert response.status == expect, (method, path, response.status, payload)
        return payload

    async def get(self, rest: str, *, expect: int = 200, tenant: str | None = None) -> Any:
        return await self.call("GET", self.url(rest, tenant), expect=expect)

    async def post(self, rest: str, body: Any = None, *, expect: int = 200, tenant: str | None = None) -> Any:
        return await self.call("POST", self.url(rest, tenant), {} if body is None else body, expect=expect)

    async def patch(self, rest: str, body: Any, *, expect: int = 200) -> Any:
        return await self.call("PATCH", self.url(rest), body, expect=expect)

    async def create(self, *, expect: int = 201, **values: Any) -> dict[str, Any]:
        body = {"channel": "web", "subject": "Drucker druckt nicht", "requester": {"name": "Jürgen Müller"}}
        body.update(values)
        payload = await self.post("/tickets", body, expect=expect)
        return payload["ticket"] if expect == 201 else payload

    async def category(self, path: str) -> int:
        def find(nodes: list[dict[str, Any]]) -> int | None:
            for node in nodes:
                if node["path"] == path:
                    return int(node["id"])
                below = find(node["children"])
                if below is not None:
                    return below
            return None

        found = find((await self.get("/categories"))["categories"])
        assert found is not None, path
        return found


async def counts(client: TestClient) -> tuple[int, int]:
    """(tickets, history rows) in the app's database."""
    async with app_of(client)[keys.DB].engine.connect() as conn:
        tickets = (await conn.execute(select(func.count()).select_from(Ticket))).scalar_one()
        history = (await conn.execute(select(func.count()).select_from(TicketHistory))).scalar_one()
    return int(tickets), int(history)


async def second_browser(client: TestClient) -> TestClient:
    """Another cookie jar on the same running server (close its session afterwards)."""
    browser = TestClient(client.server, cookie_jar=CookieJar(unsafe=True))
    await browser.start_server()
    return browser


@pytest.fixture
async def seeded_any(db_url: str) -> Seeded:
    """The seeded tenants, agents, directory and categories on SQLite, then on PostgreSQL."""
    return await seed(db_url)


@pytest.fixture
async def app_client(seeded_any: Seeded, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    yield await aiohttp_client(init_app(web_settings(seeded_any.url)))
