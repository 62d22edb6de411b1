"""A quick CLI: commands that only read never migrate (a database behind the code stops them with a message), none
prints Alembic's chatter, importing the CLI imports neither the web stack nor pydantic, a read command's settings
agree with Settings, and a replay's memory stays flat in the capture's size."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import uhd
from tests.support.helpers import TRACES
from tests.support.tenants import add_tenants
from uhd_telephony.app.cli import ReadSettings, configured_tenants, parse_args
from uhd_telephony.security.redact import settings_secrets
from uhd_telephony.settings import Settings
from uhd_telephony.store import migrate as schema

TENANT = "klinikum-nord"
READS = {
    "tenant list": ["tenant", "list"],
    "lookup": ["lookup", "4711", "--tenant", TENANT],
    "report": ["report", "--tenant", TENANT, "--month", "2026-11", "--format", "json"],
    "import-users --dry-run": [
        "import-users", str(Path(__file__).resolve().parents[2] / "examples" / "users.example.csv"), "--tenant",
        TENANT, "--dry-run",
    ],
}  # fmt: skip


def sqlite_file_exists(url: str) -> bool:
    return Path(url.split("///", 1)[1]).exists()


def _python(code: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
@pytest.mark.empty_database
@pytest.mark.parametrize("command", list(READS))
async def test_a_read_command_on_a_database_behind_the_code_says_migrate_and_migrates_nothing(
    db_url: str, command: str
) -> None:
    older = schema.revisions()[-2]
    await schema.migrate(db_url, older)
    rc, out, err = await uhd(*READS[command], env={"UHD_DATABASE_URL": db_url, "UHD_TENANT_QUEUES": f"q={TENANT}"})
    assert (rc, out) == (1, "") and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert f"is at revision {older}, this version needs {schema.head_revision()}: run uhd-telephony migrate" in line
    assert await schema.current_revision(db_url) == older


@pytest.mark.slow
@pytest.mark.empty_database
async def test_a_read_command_on_a_database_never_migrated_migrates_nothing(db_url: str) -> None:
    rc, out, err = await uhd("tenant", "list", env={"UHD_DATABASE_URL": db_url})
    assert (rc, out) == (1, "") and "run uhd-telephony migrate" in err and len(err.strip().splitlines()) == 1
    if db_url.startswith("sqlite"):
        assert not sqlite_file_exists(db_url)  # no empty file left behind
    else:
        assert await schema.current_revision(db_url) is None


@pytest.mark.slow
@pytest.mark.empty_database
async def test_a_write_migrates_in_one_line_without_the_steps_a_read_says_nothing(db_url: str) -> None:
    env = {"UHD_DATABASE_URL": db_url, "UHD_LOG_LEVEL": "INFO"}
    rc, out, err = await uhd("tenant", "add", TENANT, "--name", "Klinikum Nord", env=env)
    assert rc == 0, err
    assert "alembic.runtime" not in err and "Context impl" not in err and "Running upgrade" not in err
    migrated = [line for line in err.splitlines() if "schema" in line]
    assert len(migrated) == 1 and f"None -> {schema.head_revision()}" in migrated[0]
    for argv in READS.values():
        rc, out, err = await uhd(*argv, env=env)
        assert rc in (0, 1) and out and err == "", (argv, err)  # lookup: exit 1 = caller unknown
    rc, out, err = await uhd("import-categories", "--tenant", TENANT, env=env)
    assert rc == 0 and err == "", err  # at the newest revision already: no migration, no line


@pytest.mark.slow
def test_importing_the_cli_imports_no_web_stack_no_pydantic_no_database() -> None:
    loaded = json.loads(_python("import json, sys, uhd_telephony.app.cli; print(json.dumps(sorted(sys.modules)))"))
    tops = {name.split(".")[0] for name in loaded}
    assert not tops & {"aiohttp", "pydantic", "pydantic_settings", "sqlalchemy", "alembic", "jinja2", "phonenumbers"}
    assert not [m for m in loaded if m.startswith(("uhd_telephony.simulator", "uhd_telephony.web"))]
    assert "uhd_telephony.app.web" not in loaded and "uhd_telephony.app.server" not in loaded


@pytest.mark.slow
def test_a_read_command_imports_neither_pydantic_nor_alembic_nor_the_web_stack(sqlite_url: str) -> None:
    asyncio.run(add_tenants(sqlite_url, TENANT))
    code = (
        "import json, sys\n"
        "from uhd_telephony.app.cli import main\n"
        "for argv in (['tenant', 'list'], ['lookup', '4711', '--tenant', 'klinikum-nord']):\n"
        "    main(argv)\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "UHD_DATABASE_URL": sqlite_url})  # fmt: skip
    tops = {name.split(".")[0] for name in json.loads(done.stderr.strip().splitlines()[-1])}
    assert not tops & {"aiohttp", "pydantic", "pydantic_settings", "alembic", "jinja2"}
    assert "sqlalchemy" in tops and "klinikum-nord" in done.stdout


def test_the_newest_revision_is_found_without_alembic_and_agrees_with_it() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(schema.alembic_config())
    assert schema.revisions() == [s.revision for s in reversed(list(script.walk_revisions("base", "heads")))]
    assert schema.head_revision() == script.get_current_head()
    assert schema.schema_problem(schema.head_revision()) is None
    assert "run uhd-telephony migrate" in (schema.schema_problem(None) or "")
    assert "does not know" in (schema.schema_problem("9999") or "")


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"UHD_DATABASE_URL": "postgresql+asyncpg://uhd:s3cret-pw@db/uhd", "uhd_log_level": "debug"},
        {"uhd_default_tenant": "klinikum-ost", "UHD_AMI_SECRET": "ami-geheim", "UHD_SMTP_PASSWORD": "smtp-geheim"},
        {"UHD_TENANT_NUMBERS": " +4923199=klinikum-nord , 0800 1=sued ", "UHD_TENANT_QUEUES": "q1=a,q2=b"},
        {"UHD_SESSION_KEY": "a" * 43 + "=", "UHD_REDIS_URL": "redis://:r3dis@localhost/0", "UHD_TENANT_QUEUES": ""},
    ],
)
def test_a_read_commands_settings_agree_with_settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in list(os.environ):
        if name.upper().startswith("UHD_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = parse_args(["tenant", "list"])
    light, full = ReadSettings.read(args), Settings()
    assert light is not None
    assert (light.database_url, light.default_tenant, light.log_level) == (
        full.database_url,
        full.default_tenant,
        full.log_level,
    )
    assert (light.tenant_numbers, light.tenant_queues) == (full.tenant_numbers, full.tenant_queues)
    assert configured_tenants(light) == configured_tenants(full)
    assert sorted(settings_secrets(light)) == sorted(settings_secrets(full))
    flagged = parse_args(["--log-level", "error", "tenant", "list", "--database-url", "sqlite+aiosqlite:///x.db"])
    assert ReadSettings.read(flagged) == ReadSettings.read(flagged, os.environ)
    assert (ReadSettings.read(flagged) or light).database_url == "sqlite+aiosqlite:///x.db"


@pytest.mark.parametrize(("name", "value"), [("UHD_LOG_LEVEL", "LOUD"), ("UHD_TENANT_QUEUES", "broken")])
def test_a_setting_the_quick_reading_refuses_is_left_to_settings(name: str, value: str) -> None:
    assert ReadSettings.read(parse_args(["tenant", "list"]), {name: value}) is None


@pytest.mark.slow
async def test_an_invalid_setting_of_a_read_command_names_the_variable(sqlite_url: str) -> None:
    rc, _, err = await uhd("tenant", "list", env={"UHD_DATABASE_URL": sqlite_url, "UHD_TENANT_NUMBERS": "broken"})
    assert rc == 2 and "UHD_TENANT_NUMBERS" in err and "Traceback" not in err


def test_the_parser_of_a_command_is_built_alone() -> None:
    args = parse_args(["--log-level", "DEBUG", "tenant", "list"])
    assert (args.command, args.tenant_command, args.log_level) == ("tenant", "list", "DEBUG")
    with pytest.raises(SystemExit):
        parse_args(["lookup"])  # its required arguments are known
    assert isinstance(parse_args(["replay", "x.ami", "--summary"]), argparse.Namespace)


@pytest.mark.slow
def test_a_replay_keeps_its_memory_flat_in_the_captures_size(tmp_path: Path) -> None:
    one = b"".join(p.read_bytes() for p in sorted(TRACES.glob("*.ami")))
    big = tmp_path / "big.ami"
    with big.open("wb") as out:
        for _ in range(50_000_000 // len(one) + 1):
            out.write(one)
    small = tmp_path / "small.ami"
    small.write_bytes(one)

    def peak_rss_mb(capture: Path, *flags: str) -> float:
        # a process of its own: RUSAGE_CHILDREN is the largest child it ever waited for
        code = (
            "import resource, subprocess, sys\n"
            f"done = subprocess.run([sys.executable, '-m', 'uhd_telephony', 'replay', {str(capture)!r}, *{flags!r}],"
            " stdout=subprocess.DEVNULL)\n"
            "assert done.returncode == 0\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
        )
        return float(_python(code))

    size_mb = big.stat().st_size / 1e6
    assert size_mb > 50
    base = peak_rss_mb(small, "--summary")
    for flags in (("--summary",), ("--json",)):
        peak = peak_rss_mb(big, *flags)
        # flat: what a tiny capture takes (the interpreter, pydantic, the tracker), not the file nor its records
        assert peak - base < size_mb / 10, (flags, peak, base, size_mb)
        assert peak < size_mb, (flags, peak, size_mb)
