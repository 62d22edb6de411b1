"""A seeded web app for tests: two tenants, agents of each, directory users, category trees; logins."""

from __future__ import annotations

import atexit
import dataclasses
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet

from uhd_telephony.accounts.service import AccountService
from uhd_telephony.directory.importer import import_file
from uhd_telephony.settings import Settings
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tickets.categories import DEFAULT_CATEGORIES, import_categories

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


PASSWORD = "correct horse battery"


TENANT_A, TENANT_B = "klinikum-nord", "klinikum-sued"


@dataclass
class Seeded:
    url: str
    anna: Any  # agent of tenant A, PJSIP/101
    ben: Any  # agent of tenant A, PJSIP/102
    carl: Any  # agent of tenant B only, PJSIP/201


# a process's first seeding of a SQLite file, copied for every later one (three scrypt hashes, two directory
# imports and two category trees cost more than most of the tests that use them); PostgreSQL is seeded each time
_seeded_sqlite: tuple[Path, Seeded] | None = None


def _sqlite_path(url: str) -> Path | None:
    prefix = "sqlite+aiosqlite:///"
    return Path(url[len(prefix) :]) if url.startswith(prefix) else None


async def seed(url: str) -> Seeded:
    """Two tenants with their agents (anna, ben: tenant A; carl: tenant B), directory users and category trees."""
    global _seeded_sqlite
    path = _sqlite_path(url)
    if path is not None and _seeded_sqlite is not None and _seeded_sqlite[0].exists():
        shutil.copyfile(_seeded_sqlite[0], path)
        return dataclasses.replace(_seeded_sqlite[1], url=url)
    seeded = await _seed(url)
    if path is not None:
        folder = Path(tempfile.mkdtemp(prefix="uhd-seeded-"))
        atexit.register(shutil.rmtree, folder, True)
        shutil.copyfile(path, folder / "seeded.db")
        _seeded_sqlite = (folder / "seeded.db", seeded)
    return seeded


async def _seed(url: str) -> Seeded:
    await migrate(url)
    db = Database(url)
    try:
        accounts = AccountService(db)
        anna = await accounts.create(
            "anna", PASSWORD, display_name="Anna Becker", tenants=[TENANT_A], interface="PJSIP/101",
            member_name="Anna Becker",
        )  # fmt: skip
        ben = await accounts.create(
            "ben", PASSWORD, display_name="Ben Schäfer", tenants=[TENANT_A], interface="PJSIP/102",
            member_name="Ben Schäfer",
        )  # fmt: skip
        carl = await accounts.create(
            "carl", PASSWORD, display_name="Carl Sued", tenants=[TENANT_B], interface="PJSIP/201",
            member_name="Carl Sued",
        )  # fmt: skip
        for tenant in (TENANT_A, TENANT_B):
            await import_categories(db, tenant, DEFAULT_CATEGORIES)
            await import_file(db, EXAMPLES / "users.example.csv", tenant, progress=False)
    finally:
        await db.close()
    return Seeded(url, anna, ben, carl)


def web_settings(url: str, **extra: Any) -> Settings:
    return Settings(database_url=url, session_key=Fernet.generate_key().decode(), **extra)


async def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Logs the client's cookie jar in; returns the CSRF token."""
    response = await client.post("/api/login", json={"username": username, "password": password})
    assert response.status == 200, await response.text()
    return str((await response.json())["account"]["csrf_token"])


def app_of(client: TestClient) -> Any:
    return client.server.app
