"""The AGI during a major incident: the lookup tells the dialplan what to announce (UHD_INCIDENT,
UHD_INCIDENT_PROMPT) and stamps the first announcement; the subscription AGI records a caller who pressed the key.
On SQLite and PostgreSQL, as Asterisk drives the scripts."""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.agi.conftest import (
    MUELLER,
    OK,
    ROOT,
    TENANT,
    Seeded,
    Transcript,
    converse,
    converse_async,
    header,
    run_script,
    seed,
)
from tests.support.directory_data import phone, user
from uhd_telephony.agi import incidentdb, subscribe
from uhd_telephony.agi.lookup import Outcome
from uhd_telephony.ami import names
from uhd_telephony.incidents import phone as incident_phone
from uhd_telephony.incidents.announcement import GENERIC_PROMPT
from uhd_telephony.incidents.models import IncidentSubscription, MajorIncident
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.store.models import table_of

SUBSCRIBE_SCRIPT = ROOT / "dialplan" / "agi" / "uhd-subscribe.agi"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
REPLIES = OK * 8
PROMPT = "uhd-incidents/uhd-incident-klinikum-nord-7-0a1b2c3d"
_COMMAND = re.compile(r'^(SET|GET) VARIABLE "([^"]+)"(?: "((?:[^"\\]|\\.)*)")?$')


async def declare(
    url: str, tenant: str = TENANT, *, prompt: str | None = None, status: str = "open", declared: datetime = T0
) -> int:
    """An incident row as the incidents' service writes one."""
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            result = await conn.execute(
                incident_phone.incidents.insert()
                .values(
                    tenant=tenant, title="KIS gestört", caller_message="Das KIS ist gestört.", status=status,
                    prompt=prompt, known_at=declared, declared_at=declared,
                    resolved_at=declared + timedelta(hours=1) if status == "resolved" else None,
                )
                .returning(incident_phone.incidents.c.id)
            )  # fmt: skip
            return int(result.scalar_one())
    finally:
        await db.close()


async def read(url: str, stmt: object) -> list[dict[str, object]]:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]  # type: ignore[call-overload]
    finally:
        await db.close()


def commands(lines: list[str]) -> list[tuple[str, str, str | None]]:
    """(verb, variable, value) of each GET/SET VARIABLE the script sent."""
    out = []
    for line in lines:
        match = _COMMAND.match(line)
        assert match is not None, f"not a GET/SET VARIABLE: {line!r}"
        out.append((match.group(1), match.group(2), match.group(3)))
    return out


# --- the lookup -------------------------------------------------------------------------------------------------


async def test_a_caller_of_a_tenant_with_open_incidents_gets_them_newest_first(directory: Seeded) -> None:
    older = await declare(directory.url, prompt=PROMPT)
    newer = await declare(directory.url, declared=T0 + timedelta(minutes=10))
    await declare(directory.url, status="resolved")
    await declare(directory.url, "klinikum-sued")

    result = await converse_async(header("0231 9860572") + REPLIES, [TENANT], database_url=directory.url)

    assert result.outcome is Outcome.USER
    assert result.variables == {
        names.VAR_TENANT: TENANT,
        names.VAR_INCIDENT: f"{newer},{older}",
        names.VAR_INCIDENT_PROMPT: f"{GENERIC_PROMPT}&{PROMPT}",
        names.VAR_USER_ID: str(directory.ids["P-1"]),
        names.VAR_USER_NAME: "Jürgen Müller",
        names.VAR_VIP: "0",
    }
    # what the service's own function says for the same tenant
    db = Database(directory.url)
    try:
        expected = incident_phone.channel_variables(await incident_phone.open_incidents(db, TENANT))
    finally:
        await db.close()
    assert (result.variables[names.VAR_INCIDENT], result.variables[names.VAR_INCIDENT_PROMPT]) == expected


async def test_the_first_call_stamps_the_announcement_and_no_later_one_moves_it(directory: Seeded) -> None:
    kis = await declare(directory.url)
    stmt = select(incident_phone.incidents.c.communicated_at).where(incident_phone.incidents.c.id == kis)
    before = datetime.now(UTC)

    await converse_async(header("0231 9860572") + REPLIES, [TENANT], database_url=directory.url)
    (first,) = await read(directory.url, stmt)
    await asyncio.sleep(0.01)
    await converse_async(header("anonymous") + REPLIES, [TENANT], database_url=directory.url)
    (second,) = await read(directory.url, stmt)

    stamped = first["communicated_at"]
    assert isinstance(stamped, datetime) and before <= stamped <= datetime.now(UTC)
    assert second["communicated_at"] == stamped


async def test_a_tenant_without_an_incident_is_set_nothing_more(directory: Seeded) -> None:
    await declare(directory.url, "klinikum-sued")  # another tenant's incident is not this caller's

    result = await converse_async(header("0231 9860572") + REPLIES, [TENANT], database_url=directory.url)

    assert names.VAR_INCIDENT not in result.variables and names.VAR_INCIDENT_PROMPT not in result.variables
    assert result.outcome is Outcome.USER


@pytest.mark.parametrize("withheld", ["anonymous", ""])
async def test_a_withheld_caller_hears_the_incident_without_a_directory_lookup(withheld: str, db_url: str) -> None:
    await migrate(db_url)
    kis = await declare(db_url)

    result = await converse_async(header(withheld, "") + REPLIES, [TENANT], database_url=db_url)

    assert result.outcome is Outcome.WITHHELD
    assert result.variables == {
        names.VAR_TENANT: TENANT,
        names.VAR_VIP: "0",
        names.VAR_INCIDENT: str(kis),
        names.VAR_INCIDENT_PROMPT: GENERIC_PROMPT,
    }


async def test_a_database_before_the_incidents_migration_still_looks_callers_up(sqlite_url: str) -> None:
    await migrate(sqlite_url, "0016")
    db = Database(sqlite_url)
    try:
        from uhd_telephony.directory.repository import DirectoryRepository

        await DirectoryRepository(db).upsert(TENANT, [MUELLER], [])
    finally:
        await db.close()

    result = await converse_async(header("0231 9860572") + REPLIES, [TENANT], database_url=sqlite_url)

    assert result.outcome is Outcome.USER and names.VAR_INCIDENT not in result.variables


def test_a_withheld_caller_with_the_database_away_still_queues(closed_port: int) -> None:
    url = f"postgresql+asyncpg://uhd:secret@127.0.0.1:{closed_port}/uhd"

    result = converse(header("anonymous") + REPLIES, [TENANT], database_url=url)

    assert result.outcome is Outcome.WITHHELD
    assert result.variables == {names.VAR_TENANT: TENANT, names.VAR_VIP: "0"}
    assert result.elapsed_s < 0.5


def test_the_incident_sql_names_the_models_columns() -> None:
    """incidentdb writes its SQL by hand: the table, its columns and the status value must be the models'."""
    table = table_of(MajorIncident)
    for sql in (incidentdb.OPEN_SQL, incidentdb.STAMP_SQL):
        assert re.search(rf"\b(?:FROM|UPDATE) {table.name}\b", sql)
        for column in set(re.findall(r"\b([a-z_]+) (?:=|IS|IN|DESC)", sql)) | {"id", "prompt", "communicated_at"}:
            assert column in table.c, column
        assert "'open'" in sql and incident_phone.OPEN == "open"


# --- the subscription ------------------------------------------------------------------------------------------


def get_reply(value: str) -> bytes:
    """res_agi's answer to GET VARIABLE: ``200 result=1 (value)``, or ``200 result=0`` when it is not set."""
    return f"200 result=1 ({value})\n".encode() if value else b"200 result=0\n"


def subscribing(stdin: bytes, url: str | None, argv: list[str] | None = None, deadline_s: float = 10.0) -> Transcript:
    return converse(stdin, argv or [TENANT, "1795733173.14"], database_url=url, deadline_s=deadline_s,
                    runner=subscribe.run)  # fmt: skip


async def subscribed_rows(url: str) -> list[dict[str, object]]:
    s = table_of(IncidentSubscription).c
    return await read(url, select(s.incident_id, s.tenant, s.number, s.name, s.email, s.user_id, s.linkedid))


async def test_the_key_subscribes_the_caller_with_what_the_directory_knows(directory: Seeded) -> None:
    kis, net = await declare(directory.url), await declare(directory.url, declared=T0 + timedelta(minutes=1))
    stdin = header("0231 9860572", "MUELLER") + get_reply(f"{net},{kis}") + OK

    result = await asyncio.to_thread(subscribing, stdin, directory.url)

    assert result.outcome is Outcome.SUBSCRIBED
    assert commands(result.lines) == [
        ("GET", names.VAR_INCIDENT, None),
        ("SET", names.VAR_INCIDENT_SUBSCRIBED, "1"),
    ]
    rows = await subscribed_rows(directory.url)
    assert rows == [
        {"incident_id": i, "tenant": TENANT, "number": "+492319860572", "name": "Jürgen Müller", "email": None,
         "user_id": directory.ids["P-1"], "linkedid": "1795733173.14"}
        for i in (kis, net)
    ]  # fmt: skip


async def test_pressing_the_key_on_a_second_call_subscribes_nobody_twice(directory: Seeded) -> None:
    kis = await declare(directory.url)
    stdin = header("+49 231 9860572", "MUELLER") + get_reply(str(kis)) + OK

    first = await asyncio.to_thread(subscribing, stdin, directory.url)
    second = await asyncio.to_thread(subscribing, stdin, directory.url, [TENANT, "1795733999.9"])

    assert first.outcome is second.outcome is Outcome.SUBSCRIBED
    assert len(await subscribed_rows(directory.url)) == 1


async def test_another_tenants_or_a_resolved_incident_sends_the_caller_to_the_queue(directory: Seeded) -> None:
    theirs = await declare(directory.url, "klinikum-sued")
    over = await declare(directory.url, status="resolved")
    stdin = header("0231 9860572") + get_reply(f"{theirs},{over}") + OK

    result = await asyncio.to_thread(subscribing, stdin, directory.url)

    assert result.outcome is Outcome.NOT_SUBSCRIBED
    assert [c[0] for c in commands(result.lines)] == ["GET"]
    assert await subscribed_rows(directory.url) == []


@pytest.mark.parametrize(
    "value", ["", "abc", "-7", "0", "7;DROP TABLE incident_subscriptions", "1e3", "9" * 40, ",,, ,"]
)
def test_a_uhd_incident_without_an_id_subscribes_nobody(value: str, tmp_path: Path) -> None:
    missing = f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}"  # never asked

    result = subscribing(header("0231 9860572") + get_reply(value) + OK, missing)

    assert result.outcome is Outcome.NOT_SUBSCRIBED


def test_the_ids_of_uhd_incident_are_whole_numbers_each_once() -> None:
    assert subscribe.incident_ids("7,3, 7 ,x,12;1,0,-4,,5") == [7, 3, 5]
    assert subscribe.incident_ids(",".join(str(n) for n in range(1, 100))) == list(range(1, 21))


@pytest.mark.parametrize("number", ["anonymous", "", "<unknown>"])
def test_a_withheld_number_cannot_be_told_and_is_not_asked(number: str, tmp_path: Path) -> None:
    missing = f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}"

    result = subscribing(header(number, "") + get_reply("7") + OK, missing)

    assert result.outcome is Outcome.NOT_SUBSCRIBED
    assert result.lines == []


def test_the_database_away_sends_the_caller_to_the_queue_unconfirmed(closed_port: int) -> None:
    url = f"postgresql+asyncpg://uhd:secret@127.0.0.1:{closed_port}/uhd"

    result = subscribing(header("0231 9860572") + get_reply("7") + OK, url)

    assert result.outcome is Outcome.DATABASE_ERROR
    assert [c[0] for c in commands(result.lines)] == ["GET"]


def test_a_hung_database_is_given_up_at_the_deadline(silent_server: int) -> None:
    url = f"postgresql+asyncpg://uhd:secret@127.0.0.1:{silent_server}/uhd"

    result = subscribing(header("0231 9860572") + get_reply("7") + OK, url, deadline_s=0.5)

    assert result.outcome is Outcome.TIMEOUT
    assert result.elapsed_s < 1.0


@pytest.mark.parametrize("reply", [b"HANGUP\n", b"200 result=1 (hangup)\n", b""], ids=["line", "result", "eof"])
def test_a_hangup_at_the_key_is_one_quiet_outcome(reply: bytes, tmp_path: Path) -> None:
    missing = f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}"

    result = subscribing(header("0231 9860572") + reply, missing)

    assert result.outcome is Outcome.HANGUP


def test_without_a_tenant_nothing_is_recorded() -> None:
    for bad in ("", "x" * 65, "bad\ttenant"):
        result = subscribing(header("0231 9860572") + get_reply("7") + OK, None, [bad])
        assert result.outcome is Outcome.NO_TENANT
        assert result.lines == []


async def test_the_subscription_script_runs_as_asterisk_runs_it(sqlite_url: str) -> None:
    ids = await seed(sqlite_url, [user("P-7", "Jürgen Müller", phone("0231 9860572"), email="jm@example.org")])
    kis = await declare(sqlite_url)

    result = await run_script(
        [TENANT, "1795733173.14"],
        header("02319860572", b"J\xfcrgen M\xfcller"),
        env={"UHD_DATABASE_URL": sqlite_url},
        replies=[get_reply(str(kis)), OK],
        script=SUBSCRIBE_SCRIPT,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert commands(result.lines)[-1] == ("SET", names.VAR_INCIDENT_SUBSCRIBED, "1")
    assert [(r["email"], r["user_id"]) for r in await subscribed_rows(sqlite_url)] == [("jm@example.org", ids["P-7"])]
    # within its deadline from the process's start, plus the spawn and the backstop's margin
    assert result.elapsed_s < subscribe.SUBSCRIBE_DEADLINE_MS / 1000 + 1.0


@pytest.mark.slow
async def test_the_cli_command_subscribes_too(sqlite_url: str) -> None:
    await seed(sqlite_url, [user("P-7", "Jürgen Müller", phone("0231 9860572"))])
    kis = await declare(sqlite_url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uhd_telephony", "agi-subscribe", TENANT, "1795733173.14",
        "--database-url", sqlite_url,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(header("0231 9860572") + get_reply(str(kis)) + OK), 30)

    assert proc.returncode == 0, err.decode()
    assert f'SET VARIABLE "{names.VAR_INCIDENT_SUBSCRIBED}" "1"' in out.decode().splitlines()
    assert len(await subscribed_rows(sqlite_url)) == 1
