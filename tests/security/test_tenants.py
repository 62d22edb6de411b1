"""Tenants as data: the tenants table and its hotlines, the CLI, and the call tracker's number → tenant mapping."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.helpers import eventually
from uhd_telephony.app.cli import main
from uhd_telephony.audit.log import AuditLog
from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.calls.service import CallService
from uhd_telephony.errors import Conflict, InvalidInput
from uhd_telephony.security import redact
from uhd_telephony.settings import Settings
from uhd_telephony.simulator import AmiSimulator, default_config
from uhd_telephony.store.db import Database
from uhd_telephony.tenants.service import HotlineResolver, TenantService, hotline_resolver


async def test_a_tenant_with_its_hotlines_in_e164(db: Database) -> None:
    tenants = TenantService(db)
    added = await tenants.add(
        "klinikum-nord", name="Klinikum Nord", hotlines=[("0231 99 00 01", "nord"), ("+49 (231) 990011", "nord-vip")]
    )
    assert added.region == "DE" and added.time_zone == "Europe/Berlin" and added.active
    assert [(h.number, h.queue) for h in added.hotlines] == [("+49231990001", "nord"), ("+49231990011", "nord-vip")]
    with pytest.raises(Conflict):
        await tenants.add("klinikum-nord", name="again")
    with pytest.raises(Conflict):  # a number rings one tenant only
        await tenants.add("klinikum-west", name="West", hotlines=[("+49231990001", "west")])
    for bad in (
        {"tenant": "Klinikum Nord", "name": "x"},
        {"tenant": "ok", "name": ""},
        {"tenant": "ok", "name": "x", "region": "XX"},
        {"tenant": "ok", "name": "x", "time_zone": "Mars/Olympus"},
        {"tenant": "ok", "name": "x", "time_zone": "../../etc/passwd"},
        {"tenant": "ok", "name": "x", "hotlines": [("4711", "q")]},  # an extension is no hotline number
        {"tenant": "ok", "name": "x", "hotlines": [("+49231990099", "bad queue")]},
    ):
        with pytest.raises(InvalidInput):
            await tenants.add(bad.pop("tenant"), **bad)  # type: ignore[arg-type]
    assert [t.tenant for t in await tenants.list_all()] == ["klinikum-nord"]


async def test_the_resolver_maps_any_spelling_of_a_hotline_and_its_queue(db: Database) -> None:
    assert await hotline_resolver(db) is None  # no hotlines: the tracker keeps its settings alone
    tenants = TenantService(db)
    await tenants.add("nord", name="Nord", hotlines=[("+49231990001", "nord-q"), ("+49231990003", "shared")])
    await tenants.add("sued", name="Süd", hotlines=[("+49231990002", "sued-q"), ("+49231990004", "shared")])
    resolver = await hotline_resolver(db)
    assert isinstance(resolver, HotlineResolver)
    assert resolver("+49231990001", "", {}) == "nord"
    assert resolver("0231 990002", "", {}) == "sued"
    assert resolver("sip:+49231990002@carrier.example", "", {}) == "sued"
    assert resolver("", "nord-q", {}) == "nord"
    assert resolver("", "shared", {}) is None  # two tenants share it: only the number can tell
    assert resolver("+4930123456", "unknown", {}) is None


async def test_the_call_service_takes_the_tenant_from_the_table_and_the_settings_stay_the_fallback(
    sqlite_url: str,
) -> None:
    from uhd_telephony.store.migrate import migrate

    await migrate(sqlite_url)
    db = Database(sqlite_url)
    try:
        await TenantService(db).add("klinikum-dortmund", name="Dortmund", hotlines=[("0231 990001", "hotline")])
    finally:
        await db.close()
    config = default_config(2, tenants=2, max_wait_s=30)
    async with AmiSimulator(config, speed=0) as sim:
        settings = Settings(
            ami_port=sim.port,
            database_url=sqlite_url,
            finalize_grace_s=0.2,
            store_flush_interval_s=0.05,
            ami_reconnect_min_s=0.05,
            tenant_numbers={"+49231990002": "from-settings"},
        )
        service = CallService(settings, tenant_table=hotline_resolver)
        await service.start()
        try:
            assert service.tracker.tenant_resolver is not None
            assert service.client is not None
            await service.client.wait_connected(5)
            sim.place_call("+492311234567", "Jürgen Müller", dialled="+49231990001", talk_s=5)
            sim.place_call("+492317654321", "Erika Muster", dialled="+49231990002", talk_s=5)
            await sim.settle()
            await eventually(lambda: service.tracker.stats.finished == 2)
        finally:
            await service.close()
    db = Database(sqlite_url)
    try:
        calls = await CallRepository(db).list_calls(limit=10)
    finally:
        await db.close()
    assert sorted(c.tenant for c in calls) == ["from-settings", "klinikum-dortmund"]


async def test_a_tenant_added_while_the_service_runs_gets_its_calls(sqlite_url: str) -> None:
    config = default_config(2, tenants=1, max_wait_s=30)
    async with AmiSimulator(config, speed=0) as sim:
        settings = Settings(
            ami_port=sim.port,
            database_url=sqlite_url,
            finalize_grace_s=0.2,
            store_flush_interval_s=0.05,
            ami_reconnect_min_s=0.05,
            directory_refresh_s=0.1,
        )
        service = CallService(settings, tenant_table=hotline_resolver)
        await service.start()
        try:
            assert service.tracker.tenant_resolver is None  # no tenants yet: settings alone
            assert service.client is not None and service.db is not None
            await service.client.wait_connected(5)
            # another process (the tenant command, the admin API) adds the tenant and its hotline number
            await TenantService(service.db).add("klinikum-west", name="West", hotlines=[("0231 990077", "west")])
            await eventually(lambda: service.tracker.tenant_resolver is not None)
            assert await service.refresh_tenants() is False  # unchanged table: the same resolver stays
            sim.place_call("+492311234567", "Jürgen Müller", dialled="+49231990077", talk_s=5)
            await sim.settle()
            await eventually(lambda: service.tracker.stats.finished == 1)
        finally:
            await service.close()
    db = Database(sqlite_url)
    try:
        calls = await CallRepository(db).list_calls(limit=10)
    finally:
        await db.close()
    assert [c.tenant for c in calls] == ["klinikum-west"]


async def uhd(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The real command line, in a worker thread (its asyncio.run needs a thread without a running loop)."""
    try:
        rc = await asyncio.to_thread(main, list(args))
    finally:
        for uninstall in list(redact._current):  # main's setup_logging masks every record from then on
            uninstall()
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.slow
async def test_the_tenant_command_adds_lists_and_audits(
    sqlite_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("UHD_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("UHD_NEW_PASSWORD", "correct horse battery")
    rc, out, err = await uhd(
        "tenant", "add", "klinikum-nord", "--name", "Klinikum Nord", "--hotline", "0231 990001=nord", capsys=capsys
    )
    assert rc == 0, err
    added = json.loads(out)
    assert added["tenant"] == "klinikum-nord" and added["hotlines"] == [{"number": "+49231990001", "queue": "nord"}]
    rc, out, err = await uhd("tenant", "add", "klinikum-nord", "--name", "again", capsys=capsys)
    assert rc == 1 and "exists" in caplog.text and "Traceback" not in err + caplog.text  # the log says why
    rc, out, err = await uhd("tenant", "add", "x", "--name", "X", "--hotline", "no-equals-sign", capsys=capsys)
    assert rc == 1 and "NUMBER=QUEUE" in caplog.text
    rc, out, err = await uhd(
        "create-account", "acme", "--role", "partner", "--tenant", "klinikum-nord", "--partner-group", "partner:acme",
        capsys=capsys,
    )  # fmt: skip
    assert rc == 0, err
    assert json.loads(out)["partner_group"] == "partner:acme"
    rc, out, err = await uhd("tenant", "list", capsys=capsys)
    assert rc == 0 and [json.loads(line)["tenant"] for line in out.splitlines()] == ["klinikum-nord"]
    db = Database(sqlite_url)
    try:
        page = await AuditLog(db).page()
    finally:
        await db.close()
    assert [(e.action, e.actor) for e in page.entries] == [("account_created", "cli"), ("tenant_added", "cli")]


@pytest.mark.empty_database
async def test_an_upgrade_registers_the_tenants_accounts_and_category_trees_already_name(db_url: str) -> None:
    from sqlalchemy import text

    from uhd_telephony.store.migrate import migrate

    await migrate(db_url, "0006")
    db = Database(db_url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO accounts (username, display_name, role, password_hash, active)"
                    " VALUES ('anna', 'Anna', 'agent', 'x', true)"
                )
            )
            await conn.execute(text("INSERT INTO account_tenants (account_id, tenant) VALUES (1, 'klinikum-nord')"))
            await conn.execute(
                text(
                    "INSERT INTO categories (tenant, code, path, name, support_group, active, position)"
                    " VALUES ('klinikum-sued', 'kis', 'kis', 'KIS', '1st_level', true, 0)"
                )
            )
    finally:
        await db.close()
    await migrate(db_url)
    db = Database(db_url)
    try:
        tenants = await TenantService(db).list_all()
    finally:
        await db.close()
    assert [(t.tenant, t.name, t.region, t.time_zone, t.active) for t in tenants] == [
        ("klinikum-nord", "klinikum-nord", "DE", "Europe/Berlin", True),
        ("klinikum-sued", "klinikum-sued", "DE", "Europe/Berlin", True),
    ]
