"""The LDAP sync against a real OpenLDAP server (slapd) into SQLite and PostgreSQL: all of it, or nothing."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from tests.directory.ldapdata import (
    OTHER,
    PASSWORD,
    PASSWORD_ENV,
    TENANT,
    add_ad_user,
    add_person,
    source,
    staff,
)
from tests.support.helpers import free_port
from tests.support.slapd import AD_PERSON, LIMITED, PAGE_LIMIT, READER, Slapd
from tests.support.slapd import ldap3 as ldap
from uhd_telephony.directory.ldap_sync import SyncRequest, last_started, last_sync, sync_ldap
from uhd_telephony.directory.lookup import DirectoryIndex
from uhd_telephony.directory.models import LDAP_SYNCS, PHONES, PLACES, USERS
from uhd_telephony.directory.records import Place
from uhd_telephony.directory.repository import DirectoryRepository, UpsertCounts
from uhd_telephony.errors import Conflict, DirectorySourceError
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate


@pytest.fixture(autouse=True)
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


@pytest.fixture
async def sqlite_db(sqlite_url: str) -> AsyncIterator[Database]:
    """SQLite alone, for what is about the LDAP side only (TLS, time-outs)."""
    await migrate(sqlite_url)
    async with Database(sqlite_url) as db:
        yield db


def entry_uuid(slapd: Slapd, dn: str) -> str:
    conn = slapd.root()
    conn.search(dn, "(objectClass=*)", ldap.BASE, attributes=["entryUUID"])
    return str(conn.entries[0].entryUUID.value)


async def snapshot(db: Database) -> dict[str, Any]:
    """Every row the sync may write: what "nothing written" compares."""
    async with db.engine.connect() as conn:
        out: dict[str, Any] = {}
        for table in (USERS, PHONES, PLACES, LDAP_SYNCS):
            out[table.name] = (await conn.execute(select(table).order_by(*table.primary_key.columns))).all()
        return out


async def users_of(db: Database, tenant: str = TENANT) -> dict[str, tuple[bool, tuple[str, ...]]]:
    """name -> (active, numbers) of the tenant's users."""
    repo = DirectoryRepository(db)
    found = await repo.search(tenant, "e", 1000, include_inactive=True)
    found += [u for u in await repo.search(tenant, "a", 1000, include_inactive=True) if u not in found]
    return {u.name: (u.active, tuple(sorted(p.number for p in u.phones))) for u in found}


async def test_a_full_sync_then_numbers_changed_people_gone_and_disabled(db: Database, slapd: Slapd) -> None:
    ou = slapd.new_ou()
    anna = add_person(
        slapd, ou, "anna", "Anna Becker", displayName="Dr. Anna Becker", telephoneNumber="0231 986-4711",
        mobile="0171 2345678", mail="anna.becker@klinikum-nord.example", departmentNumber="Kardiologie",
        roomNumber="3.12",
    )  # fmt: skip
    ben = add_person(slapd, ou, "ben", "Ben Schäfer", telephoneNumber="+49 231 9860572")
    gustav = add_person(slapd, ou, "gustav", "Gustav Gans", telephoneNumber="0231 9860574")
    add_person(slapd, ou, "clara", "Clara Ohne", mail="clara@klinikum-nord.example")  # no number
    dora = add_person(slapd, ou, "dora", "Dora Falsch", telephoneNumber="0800")  # no valid number
    eva = add_person(
        slapd, ou, "eva", "Eva Gesperrt", telephoneNumber="0231 9860575", pwdAccountLockedTime="000001010000Z"
    )
    # a place the import keeps (the ward's phone): the LDAP sync owns users only
    await DirectoryRepository(db).upsert(TENANT, [], [Place(TENANT, "W-3B", "Station 3B")])
    src = source(slapd, ou)

    first = await sync_ldap(db, TENANT, src)
    assert (first.entries, first.users, first.disabled) == (6, UpsertCounts(created=3), 1)
    assert (first.skipped, first.dropped) == ({"no_number": 1, "bad_number": 1}, {})
    assert {i.reason: i.dn for i in first.issues} == {"no_number": f"uid=clara,{ou}", "bad_number": dora}
    assert await users_of(db) == {
        "Dr. Anna Becker": (True, ("+491712345678", "+492319864711")),
        "Ben Schäfer": (True, ("+492319860572",)),
        "Gustav Gans": (True, ("+492319860574",)),
    }
    stored = await DirectoryRepository(db).get_user_by_external_id(TENANT, entry_uuid(slapd, anna))
    assert stored is not None and (stored.email, stored.department, stored.location) == (
        "anna.becker@klinikum-nord.example", "Kardiologie", "3.12",
    )  # fmt: skip
    index = DirectoryIndex()
    await index.reload_tenant(db, TENANT)
    assert index.lookup(TENANT, "0231 9864711").user is not None
    last = await last_sync(db, TENANT)
    assert last is not None and last["ok"] and last["trigger"] == "command" and last["result"]["users"]["created"] == 3

    slapd.modify(ben, telephoneNumber="0231 9860573")  # a new number
    slapd.modify(anna, pwdAccountLockedTime="000001010000Z")  # locked
    slapd.modify(eva, pwdAccountLockedTime=None)  # unlocked
    slapd.modify(dora, telephoneNumber="0231 9860576")  # fixed
    slapd.delete(gustav)  # left the hospital
    second = await sync_ldap(db, TENANT, src)
    assert second.users == UpsertCounts(created=2, updated=1, deactivated=2) and second.disabled == 1
    assert await users_of(db) == {
        "Dr. Anna Becker": (False, ("+491712345678", "+492319864711")),  # kept for the tickets naming her
        "Ben Schäfer": (True, ("+492319860573",)),
        "Gustav Gans": (False, ("+492319860574",)),
        "Eva Gesperrt": (True, ("+492319860575",)),
        "Dora Falsch": (True, ("+492319860576",)),
    }
    await index.reload_tenant(db, TENANT)
    assert index.lookup(TENANT, "0231 9864711").kind == "unknown" and index.lookup(TENANT, "0231 9860573").found
    assert (await DirectoryRepository(db).search_places(TENANT, "Station"))[0].active  # places untouched
    third = await sync_ldap(db, TENANT, src)
    assert third.users == UpsertCounts(unchanged=3)
    assert await users_of(db, OTHER) == {}  # another tenant's directory is never touched


async def test_more_users_than_the_server_sends_in_one_search(db: Database, slapd: Slapd) -> None:
    ou = slapd.new_ou()
    staff(slapd, ou, 2 * PAGE_LIMIT + 20)
    reader = ldap.Connection(ldap.Server(slapd.url, get_info=ldap.NONE), READER, PASSWORD, auto_bind=True)
    reader.search(ou, "(objectClass=inetOrgPerson)", attributes=["cn"])
    assert len(reader.entries) == PAGE_LIMIT and reader.result["description"] == "sizeLimitExceeded"  # a real limit
    reader.unbind()

    result = await sync_ldap(db, TENANT, source(slapd, ou, page_size=20))
    assert result.entries == 120 and result.users == UpsertCounts(created=120)
    assert await DirectoryRepository(db).count_users(TENANT, active_only=True) == 120

    # an account the server stops at its limit even when paging: refused, not taken for the whole directory
    before = await snapshot(db)
    with pytest.raises(DirectorySourceError, match="stopped at its size limit"):
        await sync_ldap(db, TENANT, source(slapd, ou, page_size=20, bind_dn=LIMITED), SyncRequest(dry_run=True))
    assert await snapshot(db) == before


async def test_the_helpdesk_s_role_and_vip_flag_survive_every_sync(db: Database, slapd: Slapd) -> None:
    """LDAP has no VIP flag or helpdesk role: what the helpdesk set stays, a change from LDAP still comes in."""
    ou = slapd.new_ou()
    staff(slapd, ou, 3)
    await sync_ldap(db, TENANT, source(slapd, ou))
    async with db.engine.begin() as conn:
        first = (await conn.execute(select(USERS.c.id).where(USERS.c.tenant == TENANT).order_by(USERS.c.id))).first()
        assert first is not None
        await conn.execute(USERS.update().where(USERS.c.id == first.id).values(vip=True, role="doctor"))

    result = await sync_ldap(db, TENANT, source(slapd, ou))
    assert result.users == UpsertCounts(unchanged=3)
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(USERS.c.vip, USERS.c.role).where(USERS.c.id == first.id))).one()
    assert (row.vip, row.role) == (True, "doctor")


async def test_a_dry_run_counts_and_writes_nothing(db: Database, slapd: Slapd) -> None:
    ou = slapd.new_ou()
    staff(slapd, ou, 5)
    before = await snapshot(db)
    result = await sync_ldap(db, TENANT, source(slapd, ou), SyncRequest(dry_run=True))
    assert result.users == UpsertCounts(created=5) and result.dry_run
    assert await snapshot(db) == before  # no user, no phone, not even the last sync


async def test_failures_are_one_clear_error_and_write_nothing_of_the_directory(
    db: Database, slapd: Slapd, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG, logger="uhd_telephony")
    ou = slapd.new_ou()
    staff(slapd, ou, 4)
    await sync_ldap(db, TENANT, source(slapd, ou))
    ok_at = (await last_sync(db, TENANT) or {})["last_ok_at"]
    staff(slapd, ou, 2, start=10)
    dead = f"ldap://127.0.0.1:{free_port()}"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"url": dead}, f"cannot reach the LDAP server: {dead}: "),
        ({"url": [dead, f"ldap://127.0.0.1:{free_port()}"]}, "cannot reach the LDAP server: "),
        ({"bind_password_env": "UHD_TEST_LDAP_WRONG"}, f"refused the bind as {READER}: invalidCredentials"),
        ({"base_dn": f"ou=nowhere,{ou}"}, "does not exist on"),
        ({"filter": "(&(objectClass=inetOrgPerson)"}, "is not valid"),
        ({"bind_password_env": "UHD_TEST_LDAP_UNSET"}, "UHD_TEST_LDAP_UNSET is not set"),
    ]
    monkeypatch.setenv("UHD_TEST_LDAP_WRONG", "Falsches-Passwort-1")
    monkeypatch.delenv("UHD_TEST_LDAP_UNSET", raising=False)
    for change, message in cases:
        users = await snapshot(db)
        with pytest.raises(DirectorySourceError) as caught:
            await sync_ldap(db, TENANT, source(slapd, ou, **change))
        assert message in caught.value.message and "\n" not in caught.value.message, caught.value.message
        after = await snapshot(db)
        assert {k: v for k, v in after.items() if k != LDAP_SYNCS.name} == {
            k: v for k, v in users.items() if k != LDAP_SYNCS.name
        }
        last = await last_sync(db, TENANT)
        assert last is not None and not last["ok"] and last["error"] == caught.value.message
        assert last["last_ok_at"] == ok_at  # the last good one is still known
    assert PASSWORD not in caplog.text and "Falsches-Passwort-1" not in caplog.text

    # the second server answers when the first does not
    result = await sync_ldap(db, TENANT, source(slapd, ou, url=[dead, slapd.url]))
    assert result.users == UpsertCounts(created=2, unchanged=4)


async def test_a_server_that_never_answers_times_out(sqlite_db: Database, slapd: Slapd) -> None:
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accepts, reads nothing, answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(DirectorySourceError, match="cannot reach the LDAP server"):
            await sync_ldap(sqlite_db, TENANT, source(slapd, "dc=x", url=f"ldap://127.0.0.1:{port}", timeout_s=0.5))
        assert time.monotonic() - started < 5
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_the_size_guard_stops_a_sync_that_would_empty_the_directory(db: Database, slapd: Slapd) -> None:
    ou = slapd.new_ou()
    staff(slapd, ou, 10)
    await sync_ldap(db, TENANT, source(slapd, ou))
    narrow = source(slapd, ou, filter="(|(uid=p0000)(uid=p0001)(uid=p0002))")
    before = await snapshot(db)
    with pytest.raises(Conflict) as caught:
        await sync_ldap(db, TENANT, narrow)
    assert caught.value.details == {"tenant": TENANT, "found": 3, "active": 10, "min_share": 0.5}
    assert "fewer than 50 % of the 10 active ones" in caught.value.message
    assert (await snapshot(db))[USERS.name] == before[USERS.name]
    forced = await sync_ldap(db, TENANT, narrow, SyncRequest(force=True))
    assert forced.users == UpsertCounts(unchanged=3, deactivated=7) and forced.forced
    # a share of 0 turns the guard off; an empty search is refused like any other too small one
    await sync_ldap(db, TENANT, source(slapd, ou, filter="(uid=nobody)", min_share=0))
    assert await DirectoryRepository(db).count_users(TENANT, active_only=True) == 0


async def test_active_directory_users_by_their_guid_and_account_control(db: Database, slapd: Slapd) -> None:
    ou = slapd.new_ou()
    _, mueller = add_ad_user(
        slapd, ou, "jmueller", "Jürgen Müller", displayName="Dr. Jürgen Müller", telephoneNumber="0231 9860572",
        ipPhone="4711", department="Kardiologie", physicalDeliveryOfficeName="Haus A, 3. OG", mail="jm@example.org",
    )  # fmt: skip
    add_ad_user(slapd, ou, "weg", "Walter Weg", telephoneNumber="0231 9860577", userAccountControl="514")
    # a computer account is a user too, to LDAP (objectClass computer is a subclass of user)
    slapd.add(f"cn=PC01,{ou}", ["computer", "extensibleObject"], {
        "cn": "PC01", "sn": "PC01", "objectGUID": uuid.uuid4().bytes_le, "objectCategory": AD_PERSON,
        "instanceType": "4", "nTSecurityDescriptor": b"\x01", "telephoneNumber": "0231 9860578",
    })  # fmt: skip
    # OpenLDAP's copy of AD's schema has no matching rule for objectCategory: the filter AD also takes without it
    ad = source(slapd, ou, "ad", filter="(&(objectClass=user)(!(objectClass=computer)))")
    result = await sync_ldap(db, TENANT, ad)
    assert (result.entries, result.disabled, result.users) == (2, 1, UpsertCounts(created=1))
    user = await DirectoryRepository(db).get_user_by_external_id(TENANT, str(mueller))
    assert user is not None and (user.name, user.department, user.location) == (
        "Dr. Jürgen Müller", "Kardiologie", "Haus A, 3. OG",
    )  # fmt: skip
    assert {(p.kind, p.number) for p in user.phones} == {("desk", "+492319860572"), ("extension", "ext:4711")}


async def test_hostile_values_from_the_server(db: Database, slapd: Slapd) -> None:
    ou = slapd.new_ou()
    add_person(
        slapd, ou, "hostile", "Eve", displayName="Eve\x01\x1b[2J " + "X" * 3000, telephoneNumber="0231 9860579",
        audio=b"\xffKardio\x00logie\xfe\r\nX-Injected: 1", mail="eve@example.org",
    )  # fmt: skip
    src = source(slapd, ou, attributes={"department": ["audio"]})  # an octet string: any bytes at all
    result = await sync_ldap(db, TENANT, src)
    assert result.users == UpsertCounts(created=1)
    [user] = await DirectoryRepository(db).search(TENANT, "Eve")
    assert user.name.startswith("Eve [2J XXX") and len(user.name) == 200 and user.name.isprintable()
    assert user.department is not None and user.department.isprintable() and "Kardio logie" in user.department


async def test_ldaps_and_starttls_check_the_certificate(sqlite_db: Database, slapd: Slapd) -> None:
    ou = slapd.new_ou()
    staff(slapd, ou, 1)
    ca = str(slapd.ca_file)
    ldaps = await sync_ldap(sqlite_db, TENANT, source(slapd, ou, url=slapd.ldaps_url, ca_file=ca))
    assert ldaps.users == UpsertCounts(created=1)
    starttls = f"ldap://localhost:{slapd.port}"
    assert (
        await sync_ldap(sqlite_db, TENANT, source(slapd, ou, url=starttls, start_tls=True, ca_file=ca))
    ).entries == 1
    with pytest.raises(DirectorySourceError, match="CERTIFICATE_VERIFY_FAILED"):
        await sync_ldap(sqlite_db, TENANT, source(slapd, ou, url=slapd.ldaps_url))  # the system's CAs do not know it
    with pytest.raises(DirectorySourceError, match="CERTIFICATE_VERIFY_FAILED"):
        await sync_ldap(sqlite_db, TENANT, source(slapd, ou, url=starttls, start_tls=True))
    with pytest.raises(DirectorySourceError, match="UNEXPECTED_EOF_WHILE_READING"):  # ldaps:// to the plain port
        await sync_ldap(sqlite_db, TENANT, source(slapd, ou, url=f"ldaps://localhost:{slapd.port}", ca_file=ca))
    assert len(await last_started(sqlite_db)) == 1


async def test_a_server_that_refuses_starttls_gets_no_password(sqlite_db: Database, slapd: Slapd) -> None:
    """As slapd without a certificate answers: the extended operation fails with "unavailable" (52)."""
    requests: list[bytes] = []

    async def no_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readexactly(2)  # the StartTLS ExtendedRequest: 30 <length> 02 <n> <id> 77 ...
        request += await reader.readexactly(request[1])  # short enough for the short length form
        requests.append(request)
        message_id = request[2 : 4 + request[3]]  # the INTEGER as sent (ldap3 counts ids across connections)
        text = b"TLS not configured"
        result = bytes([0x0A, 1, 52, 0x04, 0, 0x04, len(text)]) + text  # resultCode, matchedDN, diagnosticMessage
        body = message_id + bytes([0x78, len(result)]) + result  # messageID, [APPLICATION 24] ExtendedResponse
        writer.write(bytes([0x30, len(body)]) + body)
        await writer.drain()
        while chunk := await reader.read(1024):  # what else it sends until it hangs up (an unbind, no bind)
            requests.append(chunk)
        writer.close()

    server = await asyncio.start_server(no_tls, "127.0.0.1", 0)
    url = f"ldap://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        with pytest.raises(DirectorySourceError) as caught:
            await sync_ldap(sqlite_db, TENANT, source(slapd, "dc=x", url=url, start_tls=True))
    finally:
        server.close()
        await server.wait_closed()
    assert f"{url}: StartTLS refused: unavailable (TLS not configured)" in caught.value.message
    assert b"1.3.6.1.4.1.1466.20037" in requests[0]  # the StartTLS request
    assert PASSWORD.encode() not in b"".join(requests) and b"uhd-reader" not in b"".join(requests)
