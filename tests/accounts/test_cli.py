"""``uhd-telephony create-account`` as an operator runs it: a real subprocess against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from tests.support.tenants import add_tenants
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.store.db import Database

PASSWORD = "Rufbereitschaft-24-7"


async def uhd(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if k != "UHD_NEW_PASSWORD"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uhd_telephony",
        *args,
        stdin=asyncio.subprocess.DEVNULL,  # not a terminal: no getpass prompt to hang on
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**base, **env},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.slow
async def test_create_account_migrates_creates_and_the_account_can_log_in(db_url: str) -> None:
    env = {"UHD_DATABASE_URL": db_url, "UHD_NEW_PASSWORD": PASSWORD}
    await add_tenants(db_url, "klinikum-nord", "klinikum-sued")
    rc, out, err = await uhd(
        "create-account", "Anna.Becker", "--role", "agent", "--tenant", "klinikum-nord", "--tenant",
        "klinikum-sued", "--interface", "PJSIP/101", "--member-name", "Anna Becker",
        env=env,
    )  # fmt: skip
    assert rc == 0, err
    created = json.loads(out)
    assert created["username"] == "anna.becker" and created["display_name"] == "Anna Becker"
    assert created["tenants"] == ["klinikum-nord", "klinikum-sued"] and created["interface"] == "PJSIP/101"
    assert PASSWORD not in out + err and "scrypt$" not in out + err
    assert "anna.becker" in err  # the log line says what was created

    async with Database(db_url) as db:
        view = await AccountService(db).authenticate("anna.becker", PASSWORD)
    assert view is not None and view.id == created["id"]

    # a second account with the same name: a clean error, exit code 1, no traceback
    rc, out, err = await uhd("create-account", "ANNA.BECKER", "--tenant", "klinikum-nord", env=env)
    assert rc == 1 and "is taken" in err and "Traceback" not in err and out == ""


@pytest.mark.slow
async def test_create_account_without_a_password_source_fails_cleanly(sqlite_url: str) -> None:
    rc, out, err = await uhd("create-account", "bernd", "--tenant", "t", env={"UHD_DATABASE_URL": sqlite_url})
    assert rc == 1 and "UHD_NEW_PASSWORD" in err and "Traceback" not in err and out == ""
