"""A strict CLI: a tenant that does not exist, a folder that is not there, a file that is no capture are one line on
stderr and a non-zero exit, with nothing written; its help is plain text; the README explains what the shipped
examples need from the environment."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support.cli import uhd
from tests.support.helpers import TRACES
from tests.support.tenants import add_tenants
from uhd_telephony.app.cli import build_parser
from uhd_telephony.app.schema import metadata
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import current_revision

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TENANT = "klinikum-nord"
TYPO = "klinikum-nrod"
GROUP_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the example's webhook key, from the environment

pytestmark = pytest.mark.slow  # subprocesses


def naming(tenant: str) -> dict[str, list[str]]:
    """Every command that names a tenant, naming ``tenant``."""
    return {
        "import-users": ["import-users", str(EXAMPLES / "users.example.csv"), "--tenant", tenant],
        "import-sla": ["import-sla", str(EXAMPLES / "sla.example.yaml"), "--tenant", tenant],
        "import-categories": ["import-categories", "--tenant", tenant],
        "import-groups": ["import-groups", str(EXAMPLES / "groups.example.yaml"), "--tenant", tenant],
        "import-articles": [
            "import-articles",
            str(ROOT / "uhd_telephony" / "articles" / "examples"),
            "--tenant",
            tenant,
        ],
        "create-account": ["create-account", "anna", "--tenant", TENANT, "--tenant", tenant],
        "report": ["report", "--tenant", tenant, "--month", "2026-11"],
        "lookup": ["lookup", "0231 986 4711", "--tenant", tenant],
        "sync-ldap": ["sync-ldap", "--tenant", tenant, "--config", str(EXAMPLES / "ldap.example.yaml")],
    }


def env_of(url: str) -> dict[str, str]:
    return {
        "UHD_DATABASE_URL": url,
        "UHD_NEW_PASSWORD": "Rufbereitschaft-24-7",
        "UHD_GROUP_SECRET_DEDALUS": GROUP_SECRET,
    }


def sqlite_file_exists(url: str) -> bool:
    return Path(url.split("///", 1)[1]).exists()


async def row_counts(url: str) -> dict[str, int]:
    """Rows of every table, and the schema's revision: what "nothing written" compares."""
    async with Database(url) as db, db.engine.connect() as conn:
        counts = {name: (await conn.execute(select(func.count()).select_from(t))).scalar_one()
                  for name, t in metadata.tables.items()}  # fmt: skip
    return {**counts, "revision": hash(await current_revision(url))}


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("command", list(naming(TYPO)))
async def test_a_tenant_that_does_not_exist_is_one_line_and_nothing_is_written(db_url: str, command: str) -> None:
    await add_tenants(db_url, TENANT)
    before = await row_counts(db_url)
    rc, out, err = await uhd(*naming(TYPO)[command], env=env_of(db_url))
    assert (rc, out) == (1, "")
    line = one_line(err)
    assert f"unknown tenant '{TYPO}'" in line and f"uhd-telephony tenant add {TYPO}" in line
    assert await row_counts(db_url) == before


@pytest.mark.empty_database
@pytest.mark.parametrize("command", ["import-categories", "create-account", "import-users"])
async def test_on_an_empty_database_an_unknown_tenant_migrates_nothing(db_url: str, command: str) -> None:
    rc, _, err = await uhd(*naming(TYPO)[command], env=env_of(db_url))
    assert rc == 1 and "unknown tenant 'klinikum-n" in one_line(err)  # an empty table knows neither
    if db_url.startswith("sqlite"):
        assert not sqlite_file_exists(db_url)  # not even an empty file
    else:
        assert await current_revision(db_url) is None


async def test_the_tenants_the_settings_give_calls_to_exist(db_url: str) -> None:
    """UHD_DEFAULT_TENANT (calls nothing maps) and the tenants of UHD_TENANT_NUMBERS/_QUEUES need no row."""
    env = {**env_of(db_url), "UHD_TENANT_QUEUES": "hotline-sued=klinikum-sued", "UHD_TENANT_NUMBERS": "+4989=ost"}
    for tenant in ("default", "klinikum-sued", "ost"):
        rc, out, err = await uhd("import-categories", "--tenant", tenant, env=env)
        assert rc == 0 and '"created"' in out, err
    rc, out, err = await uhd("report", "--tenant", "default", "--month", "2026-11", "--format", "json", env=env)
    assert rc == 0 and '"calls_offered": 0' in out, err
    rc, _, err = await uhd("import-categories", "--tenant", "klinikum-sued", env=env_of(db_url))
    assert rc == 1 and "unknown tenant 'klinikum-sued'" in one_line(err)


async def test_a_report_into_a_folder_that_is_not_there_is_one_line(sqlite_url: str, tmp_path: Path) -> None:
    await add_tenants(sqlite_url, TENANT)
    target = tmp_path / "missing" / "dir" / "x.html"
    rc, out, err = await uhd(
        "report", "--tenant", TENANT, "--month", "2026-11", "--output", str(target), env=env_of(sqlite_url)
    )
    assert (rc, out) == (1, "") and f"there is no folder {target.parent}" in one_line(err)
    assert not target.parent.exists()
    rc, _, err = await uhd("report", "--tenant", TENANT, "--month", "2026-11", "--output", str(tmp_path / "r.html"),
                           env=env_of(sqlite_url))  # fmt: skip
    assert rc == 0 and (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>"), err


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql+asyncpg://uhd:s3cret-pw@127.0.0.1:1/uhd", "cannot use the database postgresql+asyncpg://uhd:***@"),
        ("sqlite+aiosqlite:////nonexistent/folder/uhd.db", "database /nonexistent/folder/uhd.db"),
        ("mysql://uhd@db/uhd", "unsupported database 'mysql'"),
    ],
)
async def test_a_database_that_cannot_be_used_is_one_line(url: str, says: str) -> None:
    for argv in (["tenant", "list"], ["import-categories", "--tenant", "default"]):
        rc, out, err = await uhd(*argv, env={"UHD_DATABASE_URL": url})
        assert (rc, out) == (1, "") and says in one_line(err) and "s3cret-pw" not in err


@pytest.mark.parametrize(
    "content",
    [
        pytest.param((ROOT / "docs" / "console.png").read_bytes(), id="a picture"),
        pytest.param(b"Dear Sir or Madam,\r\n\r\nplease find attached\r\n\r\nthe minutes.\r\n" * 50, id="text"),
        pytest.param(b"", id="empty"),
        pytest.param(bytes(range(256)) * 8192, id="two MiB of binary"),
    ],
)
async def test_replaying_a_file_that_is_no_capture_says_so(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "capture.ami"
    path.write_bytes(content)
    rc, out, err = await uhd("replay", str(path), "--summary")
    assert (rc, out) == (1, "")
    assert f"{path} is not an AMI capture" in one_line(err)


async def test_a_capture_cut_in_the_middle_of_a_frame_is_still_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "cut.ami"
    path.write_bytes((TRACES / "a_answered.ami").read_bytes()[5000:])
    rc, out, err = await uhd("replay", str(path), "--summary")
    assert rc == 0 and '"summary"' in out, err


def parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += parsers(child)
    return found


RST = re.compile(r"`|:(?:class|func|meth|mod|attr|obj|data|exc|ref|doc|term):|^\.\. |\*\*", re.MULTILINE)


def test_every_help_is_plain_text() -> None:
    every = parsers(build_parser())
    assert len(every) > 18  # the commands, the tenant subcommands
    for parser in every:
        text = parser.format_help()
        assert not RST.search(text), f"{parser.prog}: {RST.search(text)!r} in\n{text}"


async def test_help_on_the_command_line() -> None:
    rc, out, _ = await uhd("--help")
    assert rc == 0 and "lookup" in out and "replay" in out and not RST.search(out)
    rc, out, _ = await uhd("lookup", "--help")
    assert rc == 0 and "--tenant" in out and "usage: uhd-telephony lookup" in out and not RST.search(out)
    rc, out, _ = await uhd("tenant", "list", "--help")
    assert rc == 0 and "--database-url" in out and not RST.search(out)


def test_the_readme_names_every_variable_the_shipped_examples_need() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    needed: set[str] = set()
    for path in EXAMPLES.iterdir():
        needed |= set(re.findall(r"\b(UHD_[A-Z0-9_]+)\b", path.read_text(encoding="utf-8")))
    env_example = (ROOT / ".env.example").read_text(encoding="utf-8")
    needed |= set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", env_example, re.MULTILINE))
    assert {"UHD_GROUP_SECRET_DEDALUS", "UHD_SLA_WEBHOOK_SECRET", "POSTGRES_PASSWORD"} <= needed
    missing = sorted(name for name in needed if f"`{name}`" not in readme)
    assert missing == [], "variables the shipped examples use that the README does not explain"
