"""AccountService on SQLite and PostgreSQL: create, authenticate, the agent of an answered call, tenants."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, update

from uhd_telephony.accounts import passwords
from uhd_telephony.accounts.models import Account
from uhd_telephony.accounts.service import AccountService, AccountView
from uhd_telephony.errors import Conflict, InvalidInput, NotFound
from uhd_telephony.store.db import Database

PASSWORD = "Stations-Telefon-7"
VIEW_KEYS = {
    "id",
    "username",
    "display_name",
    "role",
    "active",
    "tenants",
    "interface",
    "member_name",
    "phone_channel",
    "created_at",
    "last_login_at",
    "partner_group",
    "locale",
    "confidentiality_version",  # the § 203 StGB text it acknowledged last, and when (issue 20)
    "confidentiality_at",
}


async def anna(accounts: AccountService, **overrides: object) -> AccountView:
    values: dict[str, object] = {
        "role": "agent",
        "tenants": ["klinikum-nord", "klinikum-sued"],
        "interface": "PJSIP/101",
        "member_name": "Anna Becker",
    }
    values.update(overrides)
    return await accounts.create("Anna.Becker", PASSWORD, **values)  # type: ignore[arg-type]


async def test_create_then_authenticate_with_any_case_of_the_username(accounts: AccountService) -> None:
    created = await anna(accounts)
    assert (created.username, created.display_name, created.role) == ("anna.becker", "Anna Becker", "agent")
    assert created.tenants == ("klinikum-nord", "klinikum-sued")
    assert created.phone_channel == "PJSIP/101"  # defaults to the interface
    assert created.active and created.last_login_at is None

    logged_in = await accounts.authenticate("ANNA.becker", PASSWORD)
    assert logged_in is not None and logged_in.id == created.id
    assert logged_in.last_login_at is not None
    assert (await accounts.get(created.id)).last_login_at == logged_in.last_login_at
    assert (await accounts.by_username("Anna.Becker")) == (await accounts.get(created.id))


async def test_a_wrong_password_an_unknown_user_and_an_inactive_account_are_refused(
    accounts: AccountService, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await anna(accounts)
    verified: list[str] = []
    real = accounts.hasher.verify

    async def spy(password: str, encoded: str) -> bool:
        verified.append(encoded)
        return await real(password, encoded)

    monkeypatch.setattr(accounts.hasher, "verify", spy)
    assert await accounts.authenticate("anna.becker", "Stations-Telefon-8") is None
    assert await accounts.authenticate("nobody", PASSWORD) is None
    # an unknown name costs a full verify too (against a decoy hash): timing does not tell which names exist
    assert len(verified) == 2 and all(e.startswith("scrypt$16384$") for e in verified)

    await accounts.deactivate(created.id)
    assert await accounts.authenticate("anna.becker", PASSWORD) is None
    assert not (await accounts.get(created.id)).active


async def test_a_login_with_an_old_hash_upgrades_it(accounts: AccountService, db: Database) -> None:
    created = await anna(accounts)
    old = passwords.hash_password(PASSWORD, params=passwords.ScryptParams(2**12, 8, 1))
    async with db.sessionmaker() as session:
        await session.execute(update(Account).where(Account.id == created.id).values(password_hash=old))
        await session.commit()
    assert await accounts.authenticate("anna.becker", PASSWORD) is not None
    async with db.sessionmaker() as session:
        stored = await session.scalar(select(Account.password_hash).where(Account.id == created.id))
    assert stored is not None and stored != old and not passwords.needs_rehash(stored)
    assert await accounts.authenticate("anna.becker", PASSWORD) is not None


async def test_set_password_replaces_the_old_one(accounts: AccountService) -> None:
    created = await anna(accounts)
    await accounts.set_password(created.id, "Neues-Passwort-2025")
    assert await accounts.authenticate("anna.becker", PASSWORD) is None
    assert await accounts.authenticate("anna.becker", "Neues-Passwort-2025") is not None
    with pytest.raises(NotFound):
        await accounts.set_password(created.id + 100, "Neues-Passwort-2025")
    with pytest.raises(InvalidInput):
        await accounts.set_password(created.id, "kurz")


async def test_invalid_or_taken_values_are_refused(accounts: AccountService) -> None:
    await anna(accounts)
    with pytest.raises(Conflict) as taken:
        await accounts.create("ANNA.BECKER", PASSWORD, tenants=["klinikum-nord"])
    assert taken.value.status_code == 409 and taken.value.details == {"field": "username"}
    with pytest.raises(Conflict) as same_phone:
        await accounts.create("bernd", PASSWORD, tenants=["klinikum-nord"], interface="PJSIP/101")
    assert same_phone.value.details == {"field": "interface"}
    bad = [
        {"username": "bernd", "role": "superuser", "tenants": ["klinikum-nord"]},
        {"username": "bernd", "password": "kurz", "tenants": ["klinikum-nord"]},
        {"username": "bernd", "tenants": []},  # an agent must work for some tenant
        {"username": "bernd", "tenants": ["klinikum-nord"], "interface": "101"},
        {"username": "bernd;drop", "tenants": ["klinikum-nord"]},
        {"username": "", "tenants": ["klinikum-nord"]},
    ]
    for case in bad:
        username = str(case.pop("username"))
        password = str(case.pop("password", PASSWORD))
        with pytest.raises(InvalidInput) as refused:
            await accounts.create(username, password, **case)  # type: ignore[arg-type]
        assert refused.value.status_code == 400
    admin = await accounts.create("root", PASSWORD, role="admin")
    assert admin.tenants == () and admin.serves("any-tenant")
    with pytest.raises(NotFound):
        await accounts.get(admin.id + 100)


async def test_the_answering_agent_is_found_by_interface_then_member_name(accounts: AccountService) -> None:
    a = await anna(accounts)
    b = await accounts.create(
        "bernd", PASSWORD, tenants=["klinikum-nord"], interface="SIP/bernd", member_name="Bernd Schulz"
    )
    c = await accounts.create("carla", PASSWORD, tenants=["klinikum-nord"], interface="Local/103@agents/n")
    assert (await accounts.agent_for_call("PJSIP/101", "whoever")) == a
    assert (await accounts.agent_for_call("pjsip/101", None)) == a
    # a queue member reached through a Local channel (with /n): the extension is the phone
    assert (await accounts.agent_for_call("Local/101@from-queue/n", None)) == a
    assert (await accounts.agent_for_call("Local/103@agents", None)) == c
    assert (await accounts.agent_for_call("PJSIP/103", None)) == c
    # the queue knows the member by another interface: the MemberName decides
    assert (await accounts.agent_for_call("PJSIP/999", "Bernd Schulz")) == b
    assert (await accounts.agent_for_call(None, " bernd schulz ")) == b
    assert await accounts.agent_for_call("PJSIP/999", "Unbekannt") is None
    assert await accounts.agent_for_call(None, None) is None
    await accounts.deactivate(b.id)
    assert await accounts.agent_for_call("SIP/bernd", "Bernd Schulz") is None


async def test_a_member_name_two_accounts_share_picks_nobody(accounts: AccountService) -> None:
    await accounts.create("anna1", PASSWORD, tenants=["t"], member_name="Anna")
    await accounts.create("anna2", PASSWORD, tenants=["t"], member_name="Anna")
    assert await accounts.agent_for_call(None, "Anna") is None


async def test_agents_are_listed_per_tenant(accounts: AccountService) -> None:
    a = await anna(accounts, display_name="Anna B.")
    bernd = await accounts.create("bernd", PASSWORD, tenants=["klinikum-nord"], interface="PJSIP/102")
    await accounts.create("lead", PASSWORD, role="manager", tenants=["klinikum-nord"])
    gone = await accounts.create("gone", PASSWORD, tenants=["klinikum-nord"])
    await accounts.deactivate(gone.id)
    assert [v.username for v in await accounts.list_agents("klinikum-nord")] == ["anna.becker", "bernd"]
    assert [v.id for v in await accounts.list_agents("klinikum-sued")] == [a.id]
    assert await accounts.list_agents("klinikum-west") == []
    assert bernd.serves("klinikum-nord") and not bernd.serves("klinikum-sued")


async def test_neither_password_nor_hash_reaches_views_or_logs(
    accounts: AccountService, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # our loggers at DEBUG (aiosqlite's own DEBUG lines echo SQL parameters: keep it off DEBUG in production)
    with caplog.at_level(logging.DEBUG, logger="uhd_telephony"):
        created = await anna(accounts)
        await accounts.authenticate("anna.becker", PASSWORD)
        await accounts.authenticate("anna.becker", "Falsches-Passwort")
        await accounts.set_password(created.id, "Neues-Passwort-2025")
    async with db.sessionmaker() as session:
        stored = await session.scalar(select(Account.password_hash).where(Account.id == created.id))
    assert stored
    data = created.to_dict()
    assert set(data) == VIEW_KEYS
    assert data["tenants"] == ["klinikum-nord", "klinikum-sued"]
    assert data["created_at"].endswith("Z")
    for secret in (PASSWORD, "Falsches-Passwort", "Neues-Passwort-2025", stored, stored.split("$")[-1]):
        assert secret not in str(data) and secret not in repr(created)
        assert secret not in caplog.text
    assert "anna.becker" in caplog.text  # the logs do say who


async def test_an_account_speaks_german_until_it_chooses_english(accounts: AccountService) -> None:
    created = await anna(accounts)
    assert created.locale == "de"
    assert (await accounts.set_locale(created.id, "en")).locale == "en"
    assert (await accounts.get(created.id)).locale == "en"
    with pytest.raises(InvalidInput):
        await accounts.set_locale(created.id, "fr")
    _, after = await accounts.change(created.id, locale="de")
    assert after.locale == "de"
