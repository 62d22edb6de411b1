"""The service's LDAP syncs: each tenant when its interval has passed, failures counted, never the service down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from tests.directory.ldapdata import OTHER, PASSWORD, PASSWORD_ENV, TENANT, block, staff
from tests.support.helpers import eventually, free_port
from tests.support.slapd import Slapd
from uhd_telephony.directory import plugin
from uhd_telephony.directory.ldap_schedule import LdapSchedule
from uhd_telephony.directory.ldap_sync import last_started, last_sync
from uhd_telephony.directory.lookup import DirectoryIndex
from uhd_telephony.runtime.bus import Bus
from uhd_telephony.runtime.plugin import Runtime
from uhd_telephony.settings import Settings
from uhd_telephony.store.db import Database
from uhd_telephony.web import keys

BROKEN = "klinikum-west"
IDLE = "klinikum-ost"


@pytest.fixture(autouse=True)
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


def write_config(path: Path, sources: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump(sources), encoding="utf-8")
    return str(path)


async def test_each_tenant_is_synced_when_due_and_a_failure_stops_no_other(
    db: Database, slapd: Slapd, tmp_path: Path
) -> None:
    ou = slapd.new_ou()
    staff(slapd, ou, 3)
    config = write_config(
        tmp_path / "ldap.yaml",
        {
            TENANT: block(slapd, ou, interval_s=600),
            BROKEN: block(slapd, ou, url=f"ldap://127.0.0.1:{free_port()}"),  # the default interval
            IDLE: block(slapd, ou, interval_s=0),  # only by command or API
        },
    )
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    index = DirectoryIndex()
    schedule = LdapSchedule(db, config, default_interval_s=3600, index=index, clock=lambda: now)

    with pytest.raises(RuntimeError, match=f"LDAP sync failed for {BROKEN}"):
        await schedule.scan_once()
    assert schedule.health() == {"synced": 1, "failed": 1, "last_error": None}
    assert index.lookup(TENANT, "0231 9867000").found  # the lookups use it at once
    last = await last_sync(db, TENANT)
    assert last is not None and last["ok"] and last["trigger"] == "schedule"
    assert set(await last_started(db)) == {TENANT, BROKEN}

    assert await schedule.scan_once() == 0  # nothing due: the last syncs are stored, not remembered
    now += timedelta(seconds=601)
    assert await schedule.scan_once() == 1  # TENANT's ten minutes are up, BROKEN's hour is not
    assert (await last_sync(db, TENANT) or {})["result"]["users"]["unchanged"] == 3
    assert await last_sync(db, IDLE) is None and await last_sync(db, OTHER) is None


async def test_the_worker_runs_on_its_own_and_survives_a_broken_file(
    sqlite_url: str, slapd: Slapd, tmp_path: Path
) -> None:
    from uhd_telephony.store.migrate import migrate

    await migrate(sqlite_url)
    ou = slapd.new_ou()
    staff(slapd, ou, 2)
    path = tmp_path / "ldap.yaml"
    path.write_text("klinikum-nord: {type: ad\n", encoding="utf-8")
    async with Database(sqlite_url) as db:
        schedule = LdapSchedule(db, str(path), default_interval_s=3600, tick_s=0.05)
        await schedule.start()
        try:
            await eventually(lambda: schedule.last_error is not None)
            assert "is not valid YAML" in (schedule.last_error or "")
            write_config(path, {TENANT: block(slapd, ou)})  # fixed while the service runs: no restart
            await eventually(lambda: schedule.synced == 1)
        finally:
            await schedule.close()
        assert schedule.last_error is None and (await last_sync(db, TENANT) or {})["ok"]


async def test_the_schedule_runs_only_with_a_sources_file(sqlite_url: str, tmp_path: Path) -> None:
    async with Database(sqlite_url) as db:
        for config, names in ((None, [None]), (str(tmp_path / "ldap.yaml"), [None, "ldap_sync"])):
            app = web.Application()
            app[keys.DIRECTORY] = DirectoryIndex()
            settings = Settings(database_url=sqlite_url, ldap_config=config, ldap_sync_interval_s=900)
            rt = Runtime(settings, db, Bus(), app)
            running = plugin.workers(rt)
            assert [r.health_name for r in running] == names
            schedule = running[-1].worker
            if config is not None:
                assert isinstance(schedule, LdapSchedule) and schedule.default_interval_s == 900
                assert schedule.index is app[keys.DIRECTORY]
