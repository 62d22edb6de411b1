"""The admin API of the LDAP sync: the source's state and last sync, a sync on demand; admins only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from tests.directory.ldapdata import OTHER, PASSWORD, PASSWORD_ENV, TENANT, block, staff
from tests.support.helpers import free_port
from tests.support.slapd import Slapd
from tests.support.webapp import PASSWORD as LOGIN_PASSWORD
from tests.support.webapp import app_of, login, web_settings
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.app.web import init_app
from uhd_telephony.audit.log import AuditLog
from uhd_telephony.directory.models import LDAP_SYNCS, USERS
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.web import keys

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
PATH = "/api/tenants/{}/directory/ldap-sync"


async def _app(
    url: str, slapd: Slapd, folder: Path, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[TestClient, str, Path]:
    """The app with an LDAP file: TENANT's source is the test server (its own OU), OTHER's a port nobody serves."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    await migrate(url)
    async with Database(url) as db:
        accounts = AccountService(db)
        await accounts.create("olga", LOGIN_PASSWORD, role="admin", display_name="Olga Operator")
        await accounts.create("anna", LOGIN_PASSWORD, display_name="Anna Becker", tenants=[TENANT])
    ou = slapd.new_ou()
    config = folder / "ldap.yaml"
    sources = {TENANT: block(slapd, ou, interval_s=600), OTHER: block(slapd, ou, url=f"ldap://127.0.0.1:{free_port()}")}
    config.write_text(yaml.safe_dump(sources), encoding="utf-8")
    client = await aiohttp_client(init_app(web_settings(url, ldap_config=str(config))))
    return client, ou, config


@pytest.fixture
async def web(
    db_url: str, slapd: Slapd, tmp_path: Path, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[TestClient, str, Path]:
    """On SQLite, then on PostgreSQL."""
    return await _app(db_url, slapd, tmp_path, aiohttp_client, monkeypatch)


@pytest.fixture
async def web_sqlite(
    sqlite_url: str, slapd: Slapd, tmp_path: Path, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[TestClient, str, Path]:
    """On SQLite: for what is about the API and the LDAP side, not the store."""
    return await _app(sqlite_url, slapd, tmp_path, aiohttp_client, monkeypatch)


async def call(client: TestClient, method: str, path: str, csrf: str, body: Any = None) -> tuple[int, Any]:
    response = await client.request(method, path, json=body, headers={"X-CSRF-Token": csrf})
    return response.status, await response.json()


async def rows(client: TestClient, table: Any) -> int:
    async with app_of(client)[keys.DB].engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_an_admin_syncs_a_tenant_and_reads_how_it_went(web: tuple[TestClient, str, Path], slapd: Slapd) -> None:
    client, ou, _ = web
    staff(slapd, ou, 3)
    csrf = await login(client, "olga")
    status, before = await call(client, "GET", PATH.format(TENANT), csrf)
    assert status == 200 and before == {
        "tenant": TENANT, "configured": True, "problem": None, "interval_s": 600.0, "last": None
    }  # fmt: skip

    status, dry = await call(client, "POST", PATH.format(TENANT), csrf, {"dry_run": True})
    assert status == 200 and dry["sync"]["users"]["created"] == 3 and dry["sync"]["dry_run"]
    assert await rows(client, USERS) == 0 and await rows(client, LDAP_SYNCS) == 0

    status, done = await call(client, "POST", PATH.format(TENANT), csrf, {})
    assert status == 200 and done["sync"]["users"] == {"created": 3, "updated": 0, "unchanged": 0, "deactivated": 0}
    # this process's caller lookups know them at once
    assert app_of(client)[keys.DIRECTORY].lookup(TENANT, "0231 9867001").found
    status, after = await call(client, "GET", PATH.format(TENANT), csrf)
    last = after["last"]
    assert (last["ok"], last["trigger"], last["actor"], last["error"]) == (True, "api", "olga", None)
    assert last["result"]["users"]["created"] == 3 and last["last_ok_at"] == last["finished_at"]
    page = await AuditLog(app_of(client)[keys.DB]).page(limit=5)
    audited = [e for e in page.entries if e.action == "directory_synced"]
    assert [(e.actor, e.target, e.details["users"]["created"]) for e in audited] == [("olga", f"tenant:{TENANT}", 3)]


async def test_no_source_an_unreachable_one_and_a_broken_file(web_sqlite: tuple[TestClient, str, Path]) -> None:
    client, _, config = web_sqlite
    csrf = await login(client, "olga")
    status, body = await call(client, "POST", PATH.format("klinikum-ost"), csrf, {})
    assert status == 409 and body["error_id"] == "conflict"
    assert body["text"] == "Für diesen Mandanten ist keine LDAP-Quelle eingerichtet."

    status, body = await call(client, "POST", PATH.format(OTHER), csrf, {"force": True})
    assert status == 502 and body["error_id"] == "directory-source-failed"
    assert body["message"].startswith("cannot reach the LDAP server: ldap://127.0.0.1:") and PASSWORD not in str(body)
    assert await rows(client, USERS) == 0
    status, state = await call(client, "GET", PATH.format(OTHER), csrf)
    assert state["last"]["ok"] is False and state["last"]["error"] == body["message"]

    config.write_text("klinikum-nord: [not, a, block]\n", encoding="utf-8")
    status, state = await call(client, "GET", PATH.format(TENANT), csrf)
    assert status == 200 and state["configured"] is False and "klinikum-nord" in state["problem"]


async def test_only_admins_and_only_a_valid_body(web_sqlite: tuple[TestClient, str, Path]) -> None:
    client, _, _ = web_sqlite
    csrf = await login(client, "anna")
    for method in ("GET", "POST"):
        status, body = await call(client, method, PATH.format(TENANT), csrf, {})
        assert status == 403 and body["error_id"] == "forbidden", (method, body)
    csrf = await login(client, "olga")
    status, body = await call(client, "POST", PATH.format(TENANT), csrf, {"dry_run": "sometimes", "wipe": True})
    assert status == 400 and {p["field"] for p in body["details"]["problems"]} == {"dry_run", "wipe"}
    assert await rows(client, LDAP_SYNCS) == 0
