"""``uhd-telephony sync-ldap`` as an operator runs it: a real subprocess against the real slapd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.directory.ldapdata import PASSWORD, PASSWORD_ENV, TENANT, block, staff
from tests.support.cli import uhd
from tests.support.slapd import Slapd
from tests.support.tenants import add_tenants
from uhd_telephony.directory.ldap_sync import last_sync
from uhd_telephony.directory.repository import DirectoryRepository
from uhd_telephony.store.db import Database

pytestmark = pytest.mark.slow  # subprocesses


def tls(slapd: Slapd, ou: str, **overrides: object) -> dict[str, object]:
    """The source as production has it: StartTLS, the server's certificate checked against its CA."""
    url = f"ldap://localhost:{slapd.port}"
    return block(slapd, ou, url=url, start_tls=True, ca_file=str(slapd.ca_file), **overrides)


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


async def test_sync_ldap_prints_what_it_did_and_fails_in_one_line(db_url: str, slapd: Slapd, tmp_path: Path) -> None:
    await add_tenants(db_url, TENANT)
    ou = slapd.new_ou()
    staff(slapd, ou, 4)
    config = tmp_path / "ldap.yaml"
    config.write_text(yaml.safe_dump({TENANT: tls(slapd, ou)}), encoding="utf-8")
    env = {"UHD_DATABASE_URL": db_url, "UHD_LDAP_CONFIG": str(config), PASSWORD_ENV: PASSWORD}

    rc, out, err = await uhd("sync-ldap", "--tenant", TENANT, env=env)
    assert rc == 0, err
    result = json.loads(out)
    assert (result["entries"], result["users"]["created"], result["skipped"], result["dry_run"]) == (4, 4, {}, False)

    wrong = {**env, PASSWORD_ENV: "Falsches-Passwort-1", "UHD_LOG_LEVEL": "DEBUG"}
    rc, out, err = await uhd("sync-ldap", "--tenant", TENANT, "--config", str(config), env=wrong)
    assert (rc, out) == (1, "") and "Falsches-Passwort-1" not in err
    assert "refused the bind as cn=uhd-reader,ou=services,dc=uhd-test,dc=example: invalidCredentials" in err
    async with Database(db_url) as db:
        assert await DirectoryRepository(db).count_users(TENANT, active_only=True) == 4
        last = await last_sync(db, TENANT)
        assert last is not None and not last["ok"] and last["trigger"] == "command"


async def test_the_size_guard_and_the_configuration_at_the_shell(sqlite_url: str, slapd: Slapd, tmp_path: Path) -> None:
    await add_tenants(sqlite_url, TENANT, "klinikum-ost")
    ou = slapd.new_ou()
    staff(slapd, ou, 6)
    config = tmp_path / "ldap.yaml"
    config.write_text(yaml.safe_dump({TENANT: tls(slapd, ou)}), encoding="utf-8")
    env = {"UHD_DATABASE_URL": sqlite_url, "UHD_LDAP_CONFIG": str(config), PASSWORD_ENV: PASSWORD}
    rc, out, err = await uhd("sync-ldap", "--tenant", TENANT, "--dry-run", env=env)
    assert rc == 0, err
    assert json.loads(out)["users"] == {"created": 6, "updated": 0, "unchanged": 0, "deactivated": 0}
    async with Database(sqlite_url) as db:
        assert await DirectoryRepository(db).count_users(TENANT) == 0 and await last_sync(db, TENANT) is None
    assert (await uhd("sync-ldap", "--tenant", TENANT, env=env))[0] == 0

    config.write_text(yaml.safe_dump({TENANT: tls(slapd, ou, filter="(uid=p0000)")}), encoding="utf-8")
    rc, out, err = await uhd("sync-ldap", "--tenant", TENANT, env=env)
    assert (rc, out) == (1, "") and "found 1 usable users, fewer than 50 % of the 6 active ones" in one_line(err)
    rc, out, err = await uhd("sync-ldap", "--tenant", TENANT, "--force", env=env)
    assert rc == 0 and json.loads(out)["users"]["deactivated"] == 5, err

    rc, _, err = await uhd("sync-ldap", "--tenant", "klinikum-ost", env=env)
    assert rc == 1 and f"the LDAP configuration {config} has no source for tenant 'klinikum-ost'" in one_line(err)
    rc, _, err = await uhd("sync-ldap", "--tenant", TENANT, env={"UHD_DATABASE_URL": sqlite_url})
    assert rc == 1 and "no LDAP sources file: pass --config FILE or set UHD_LDAP_CONFIG" in one_line(err)
