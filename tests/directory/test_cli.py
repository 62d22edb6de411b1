"""``uhd-telephony import-users`` and ``lookup`` as an operator runs them: real subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.support.directory_data import TENANT
from tests.support.tenants import add_tenants
from uhd_telephony.directory.repository import DirectoryRepository
from uhd_telephony.store.db import Database

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def uhd(*args: str, database_url: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uhd_telephony",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "UHD_DATABASE_URL": database_url, "UHD_LOG_LEVEL": "WARNING"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.slow
async def test_import_then_lookup_found_shared_and_unknown(db_url: str) -> None:
    await add_tenants(db_url, TENANT)
    rc, out, err = await uhd(
        "import-users", str(EXAMPLES / "users.example.csv"), "--tenant", TENANT, "--extension-prefix", "+49231986",
        database_url=db_url,
    )  # fmt: skip
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["users"] == {"created": 7, "updated": 0, "unchanged": 0, "deactivated": 0}
    assert summary["places"]["created"] == 2 and summary["rows"] == 9

    found, unknown, shared = await asyncio.gather(
        uhd("lookup", "0231 986 4711", "--tenant", TENANT, database_url=db_url),
        uhd("lookup", "anonymous", "--tenant", TENANT, database_url=db_url),
        uhd("lookup", "4731", "--tenant", TENANT, database_url=db_url),
    )
    rc, out, err = found
    assert rc == 0, err
    result = json.loads(out)
    assert (result["kind"], result["number"], result["tenant"]) == ("user", "+492319864711", TENANT)
    assert result["user"]["name"] == "Thomas Krüger" and result["user"]["role"] == "it"
    rc, out, err = unknown
    assert rc == 1, err
    assert json.loads(out) == {
        "kind": "unknown",
        "tenant": TENANT,
        "number": None,
        "user": None,
        "place": None,
        "candidates": [],
    }
    rc, out, err = shared
    assert rc == 0, err
    names = [c["user"]["name"] for c in json.loads(out)["candidates"]]
    assert sorted(names) == ["Petra Hoffmann", "Sabine Weiß"]


@pytest.mark.slow
async def test_a_bad_file_exits_1_with_every_error_and_writes_nothing(sqlite_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("external_id,name,phone\nP-1,Jürgen Müller,0231 9860572\nP-2,,0800\nP-3,Eva,12\n", encoding="utf-8")
    await add_tenants(sqlite_url, TENANT)
    rc, out, err = await uhd("import-users", str(bad), "--tenant", TENANT, database_url=sqlite_url)
    assert rc == 1 and out == ""
    assert "2 errors, nothing imported" in err
    assert "line 3: name:" in err and "line 3: phones[0]:" in err and "line 4" not in err
    db = Database(sqlite_url)
    try:
        assert await DirectoryRepository(db).count_users(TENANT) == 0
    finally:
        await db.close()

    rc, _, err = await uhd("lookup", "4711", "--tenant", " no tenant", database_url=sqlite_url)
    assert rc == 1 and "invalid tenant" in err
