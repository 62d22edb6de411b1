"""A seeded web app: two tenants, agents of each, directory users, category trees; real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient

from tests.support.webapp import PASSWORD, TENANT_A, TENANT_B, Seeded, app_of, login, seed, web_settings
from uhd_telephony.app.web import init_app
from uhd_telephony.web import keys


@pytest.fixture
async def seeded(db_url: str) -> Seeded:
    """The seeded world on SQLite, then on PostgreSQL."""
    return await seed(db_url)


@pytest.fixture
def demo_db_url(tmp_path: Path) -> str:
    """The embedded demo's database (tests/web/demo_world.py): a SQLite file unless a module overrides it."""
    return f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"


@pytest.fixture
async def client(seeded: Seeded, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    app = init_app(web_settings(seeded.url))
    yield await aiohttp_client(app)


@pytest.fixture
async def other(client: TestClient) -> AsyncIterator[TestClient]:
    """A second browser on the same running server: its own cookie jar, the same app."""
    second = TestClient(client.server, cookie_jar=CookieJar(unsafe=True))
    await second.start_server()  # the server runs already: this only opens the session
    try:
        yield second
    finally:
        await second.session.close()  # the server belongs to ``client``


__all__ = ["PASSWORD", "TENANT_A", "TENANT_B", "Seeded", "app_of", "keys", "login", "seed", "web_settings"]
