"""The AGI caller lookup as Asterisk drives it: the header, a reply per command, the SET VARIABLEs it sends."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from tests.agi.conftest import OK, TENANT, Seeded, converse, converse_async, header, run_script, seed
from tests.support.directory_data import phone, place, user
from uhd_telephony.agi.callerdb import target_of
from uhd_telephony.agi.lookup import VIP_QUEUE_PRIO, Outcome, lookup, run
from uhd_telephony.ami import names
from uhd_telephony.directory.lookup import DirectoryIndex
from uhd_telephony.store.db import Database

REPLIES = OK * 8


async def test_a_known_caller_gets_tenant_user_id_name_and_vip(directory: Seeded) -> None:
    result = await converse_async(header("0231 9860572", "Mueller") + REPLIES, [TENANT], database_url=directory.url)

    assert result.outcome is Outcome.USER
    assert result.variables == {
        names.VAR_TENANT: TENANT,
        names.VAR_USER_ID: str(directory.ids["P-1"]),
        names.VAR_USER_NAME: "Jürgen Müller",
        names.VAR_VIP: "0",
    }
    assert result.names[0] == names.VAR_TENANT  # first, before the database is asked
    assert names.VAR_QUEUE_PRIO not in result.variables


async def test_a_vip_is_queued_first(directory: Seeded) -> None:
    result = await converse_async(header("+49 231 9860100") + REPLIES, [TENANT], database_url=directory.url)

    assert result.outcome is Outcome.USER
    assert result.variables[names.VAR_USER_ID] == str(directory.ids["P-2"])
    assert result.variables[names.VAR_USER_NAME] == 'Prof. Dr. Hans "Hansi" Weber'  # quotes escaped on the wire
    assert result.variables[names.VAR_VIP] == "1"
    assert result.variables[names.VAR_QUEUE_PRIO] == str(VIP_QUEUE_PRIO)


async def test_the_same_number_in_another_tenant_is_someone_else(directory: Seeded) -> None:
    result = await converse_async(header("0231 9860572") + REPLIES, ["klinikum-sued"], database_url=directory.url)

    assert result.variables[names.VAR_TENANT] == "klinikum-sued"
    assert result.variables[names.VAR_USER_NAME] == "Someone Else"


async def test_an_unknown_caller_is_queued_without_a_user(sqlite_url: str) -> None:
    await seed(sqlite_url, [user("P-1", "Jürgen Müller", phone("0231 9860572"))])

    result = await converse_async(header("0231 9869999") + REPLIES, [TENANT], database_url=sqlite_url)

    assert result.outcome is Outcome.UNKNOWN
    assert result.variables == {names.VAR_TENANT: TENANT, names.VAR_VIP: "0"}


@pytest.mark.parametrize("withheld", ["anonymous", "", "<unknown>", "Restricted"])
def test_a_withheld_number_is_not_looked_up(withheld: str, tmp_path: Path) -> None:
    # the database does not even exist: nothing may wait for it
    missing = f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}"

    result = converse(header(withheld, "") + REPLIES, [TENANT], database_url=missing)

    assert result.outcome is Outcome.WITHHELD
    assert result.variables == {names.VAR_TENANT: TENANT, names.VAR_VIP: "0"}


async def test_a_shared_phone_names_nobody_and_a_ward_phone_names_no_user(sqlite_url: str) -> None:
    await seed(
        sqlite_url,
        [
            user("P-1", "Anna Nurse", phone("0231 9864300", "shared")),
            user("P-2", "Bert Nurse", phone("0231 9864300", "shared")),
        ],
        [place("W-3B", "Station 3B", phone("0231 9864301"))],
    )

    shared = await converse_async(header("0231 9864300") + REPLIES, [TENANT], database_url=sqlite_url)
    ward = await converse_async(header("0231 9864301") + REPLIES, [TENANT], database_url=sqlite_url)

    assert shared.outcome is Outcome.CANDIDATES and ward.outcome is Outcome.PLACE
    for result in (shared, ward):
        assert result.variables == {names.VAR_TENANT: TENANT, names.VAR_VIP: "0"}


async def test_the_ranking_is_the_services_own(db_url: str) -> None:
    """The few rows the AGI reads rank exactly as the service's full in-memory index ranks them."""
    users = [
        user("U-1", "Desk Owner", phone("0231 9860572"), phone("4711", "extension")),
        user("U-2", "Dect Carrier", phone("0231 9860572", "dect"), vip=True),
        user("U-3", "Fax Sharer", phone("0231 9860572", "fax")),
        user("U-4", "Only Mobile", phone("0170 1234567", "mobile"), vip=True),
        user("U-5", "Gone", phone("0231 9860999"), active=False),
    ]
    places = [place("W-1", "Station 1", phone("0231 9860572")), place("W-2", "Pforte", phone("0231 9860500"))]
    await seed(db_url, users, places)
    db = Database(db_url)
    try:
        index = DirectoryIndex()
        await index.reload_tenant(db, TENANT)
    finally:
        await db.close()

    for number in ("0231 9860572", "+492319860572", "4711", "0170 1234567", "0231 9860999", "0231 9860500"):
        expected = index.lookup(TENANT, number)
        got = await asyncio.to_thread(lookup, target_of(db_url), TENANT, number, 5.0)

        assert got.kind == expected.kind, number
        assert got.number == expected.number
        assert (got.user and got.user.id) == (expected.user and expected.user.id)
        assert (got.place and got.place.id) == (expected.place and expected.place.id)
        assert [(c.user.id, c.phone_kind, c.reasons) for c in got.candidates] == [
            (c.user.id, c.phone_kind, c.reasons) for c in expected.candidates
        ]


# --- the caller hangs up ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after_header", "what"),
    [
        (b"HANGUP\n", "HANGUP line instead of the first reply"),
        (OK + b"HANGUP\n", "HANGUP line after UHD_TENANT"),
        (b"", "EOF instead of the first reply"),
        (
            b"520-Invalid command syntax.  Proper usage follows:\nUsage: SET VARIABLE <variablename> <value>\n",
            "520, EOF",
        ),
    ],
)
def test_a_hangup_ends_the_script_quietly_within_the_deadline(after_header: bytes, what: str, tmp_path: Path) -> None:
    missing = f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}"
    # no digits: the lookup would not touch the database, so the hang-up is what ends it
    result = converse(header("anonymous") + after_header, [TENANT], database_url=missing)

    assert result.outcome is Outcome.HANGUP, what
    assert result.elapsed_s < 0.5
    assert result.lines[0] == f'SET VARIABLE "{names.VAR_TENANT}" "{TENANT}"'


def test_eof_inside_the_header_is_a_hangup() -> None:
    result = converse(b"agi_request: uhd-lookup.agi\nagi_channel: PJSIP/trunk-0000", [TENANT])

    assert result.outcome is Outcome.HANGUP
    assert result.lines == []


def test_silence_from_asterisk_ends_at_the_deadline() -> None:
    # the header, then neither a reply nor EOF: stdin stays open
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        os.write(in_w, header("anonymous"))
        started = time.monotonic()
        outcome = run([TENANT], stdin_fd=in_r, stdout_fd=out_w, environ={}, deadline_s=0.2)
        elapsed = time.monotonic() - started
    finally:
        for fd in (in_r, in_w, out_r, out_w):
            os.close(fd)

    assert outcome is Outcome.TIMEOUT
    assert elapsed < 0.5


def test_latin1_bytes_in_the_header_are_read_as_cp1252(tmp_path: Path) -> None:
    # an older PBX sends the caller's name in Latin-1: pyst2 alone would raise UnicodeDecodeError
    missing = f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}"
    head = header(b"anonymous", b"J\xfcrgen M\xfcller \x80")

    result = converse(head + REPLIES, [TENANT], database_url=missing)

    assert result.outcome is Outcome.WITHHELD


def test_without_a_tenant_nothing_is_set() -> None:
    assert converse(header() + REPLIES, []).outcome is Outcome.NO_TENANT
    # uhd_telephony.tenant's rule: 1-64 printable characters, no blank at either end
    for bad in ("x" * 65, "bad\ttenant", "bad\x00"):
        assert converse(header() + REPLIES, [bad]).outcome is Outcome.NO_TENANT


def test_the_tenant_may_come_from_agi_arg_1() -> None:
    result = converse(header("anonymous", "", TENANT) + REPLIES, [])

    assert result.variables[names.VAR_TENANT] == TENANT


# --- the database is slow or gone: fall through with UHD_TENANT ----------------------------------------------


def test_an_unreachable_database_falls_through_with_the_tenant(closed_port: int) -> None:
    url = f"postgresql+asyncpg://uhd:secret@127.0.0.1:{closed_port}/uhd"

    result = converse(header("0231 9860572") + REPLIES, [TENANT], database_url=url)

    assert result.outcome is Outcome.DATABASE_ERROR
    assert result.variables == {names.VAR_TENANT: TENANT}
    assert result.elapsed_s < 0.5


async def test_a_hung_database_is_given_up_at_the_deadline(silent_server: int) -> None:
    url = f"postgresql+asyncpg://uhd:secret@127.0.0.1:{silent_server}/uhd"

    result = await run_script([TENANT], header("0231 9860572"), env={"UHD_DATABASE_URL": url})

    assert result.returncode == 0
    assert result.lines == [f'SET VARIABLE "{names.VAR_TENANT}" "{TENANT}"']
    # 500 ms from the process's start, plus the spawn this machine needs
    assert result.elapsed_s < 1.0
    assert "did not answer within" in result.stderr
    assert "secret" not in result.stderr


# --- as Asterisk runs it ----------------------------------------------------------------------------------------


async def test_the_script_runs_as_asterisk_runs_it(sqlite_url: str) -> None:
    ids = await seed(sqlite_url, [user("P-7", "Jürgen Müller", phone("0231 9860572"), vip=True)])

    result = await run_script(
        [TENANT], header("02319860572", b"J\xfcrgen M\xfcller"), env={"UHD_DATABASE_URL": sqlite_url}
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # pyst2's debug lines went nowhere
    assert result.variables == {
        names.VAR_TENANT: TENANT,
        names.VAR_USER_ID: str(ids["P-7"]),
        names.VAR_USER_NAME: "Jürgen Müller",
        names.VAR_VIP: "1",
        names.VAR_QUEUE_PRIO: str(VIP_QUEUE_PRIO),
    }
    assert result.elapsed_s < 1.0


async def test_the_script_exits_0_when_the_caller_hangs_up_mid_lookup(sqlite_url: str) -> None:
    await seed(sqlite_url, [user("P-7", "Jürgen Müller", phone("0231 9860572"))])

    # the caller hangs up right after UHD_TENANT: stdin closes, as res_agi closes it
    result = await run_script([TENANT], header("02319860572"), env={"UHD_DATABASE_URL": sqlite_url}, replies=[OK, None])

    assert result.returncode == 0
    assert result.stderr == ""
    assert result.names[0] == names.VAR_TENANT
    assert result.elapsed_s < 1.0


@pytest.mark.slow
async def test_the_cli_command_speaks_agi_too(sqlite_url: str) -> None:
    ids = await seed(sqlite_url, [user("P-7", "Jürgen Müller", phone("0231 9860572"))])
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uhd_telephony",
        "agi-lookup",
        TENANT,
        "0231 9860572",
        "--database-url",
        sqlite_url,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(header("anonymous") + REPLIES), 20)

    assert proc.returncode == 0, err.decode()
    assert f'SET VARIABLE "{names.VAR_USER_ID}" "{ids["P-7"]}"' in out.decode().splitlines()


def test_a_number_presented_as_restricted_is_not_looked_up(tmp_path: Path) -> None:
    missing = f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}"
    head = header("0231 9860572").replace(b"agi_callingpres: 0\n", b"agi_callingpres: 33\n")  # prohib_passed_screen

    result = converse(head + REPLIES, [TENANT], database_url=missing)

    assert result.outcome is Outcome.WITHHELD
    assert result.variables == {names.VAR_TENANT: TENANT, names.VAR_VIP: "0"}
