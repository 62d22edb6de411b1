"""Alembic migrations shipped in the package, run from code on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from uhd_telephony.app.schema import Base
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import PG_LOCK_KEY, current_revision, downgrade, head_revision, migrate
from uhd_telephony.store.models import include_object

# these tests migrate themselves: their databases start empty
pytestmark = pytest.mark.empty_database

EXPECTED_INDEXES = {
    "ix_calls_tenant_entered_at": ["tenant", "entered_at"],
    "ix_calls_tenant_queue_entered_at": ["tenant", "queue", "entered_at"],
    "ix_calls_entered_at": ["entered_at"],
    "ix_calls_linkedid": ["linkedid"],
    "ix_calls_open": ["tenant", "entered_at"],
}


def _schema(conn: Connection) -> tuple[set[str], dict[str | None, list[str | None]], set[str | None], Any]:
    insp = inspect(conn)
    columns = {c["name"] for c in insp.get_columns("calls")}
    indexes = {ix["name"]: list(ix["column_names"]) for ix in insp.get_indexes("calls")}
    uniques = {uq["name"] for uq in insp.get_unique_constraints("calls")}
    # what env.py compares: the FTS5 table and its shadow tables, the PostgreSQL expression index are no model's
    opts = {"compare_type": True, "include_object": include_object}
    diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
    return columns, indexes, uniques, diff


async def test_migrate_creates_the_schema_the_models_describe(db_url: str) -> None:
    assert await current_revision(db_url) is None
    await migrate(db_url)
    assert await current_revision(db_url) == head_revision()
    async with Database(db_url) as db, db.engine.connect() as conn:
        columns, indexes, uniques, diff = await conn.run_sync(_schema)
    assert columns == {c.name for c in Base.metadata.tables["calls"].columns}
    assert {name: indexes[name] for name in EXPECTED_INDEXES} == EXPECTED_INDEXES
    assert "uq_calls_call_id" in uniques
    # the hand-written revision and the models agree: autogenerate would produce an empty revision
    assert diff == []


async def test_migrate_twice_is_a_no_op(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    await migrate(db_url)
    caplog.clear()
    with caplog.at_level("INFO", logger="uhd_telephony.store.migrate"):
        await migrate(db_url)
    assert f"already at revision {head_revision()}" in caplog.text
    assert await current_revision(db_url) == head_revision()


async def test_downgrade_to_base_and_up_again(db_url: str) -> None:
    await migrate(db_url)
    await downgrade(db_url, "base")
    assert await current_revision(db_url) is None
    async with Database(db_url) as db, db.engine.connect() as conn:
        assert not await conn.run_sync(lambda c: inspect(c).has_table("calls"))
    await migrate(db_url)
    assert await current_revision(db_url) == head_revision()


async def test_migrate_works_from_any_working_directory(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    await migrate(sqlite_url)
    assert await current_revision(sqlite_url) == head_revision()
    assert list(elsewhere.iterdir()) == []


async def test_instances_migrating_at_once_do_not_collide(pg_url: str) -> None:
    # several service instances starting together: the advisory lock makes them take turns
    await asyncio.gather(*(migrate(pg_url) for _ in range(3)))
    assert await current_revision(pg_url) == head_revision()


async def test_a_migration_waits_for_another_instance_holding_the_lock(pg_url: str) -> None:
    # another instance (another process) migrating holds the advisory lock: this one waits, then finds work done
    other = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        await other.execute("SELECT pg_advisory_lock($1)", PG_LOCK_KEY)
        waiting = asyncio.create_task(migrate(pg_url))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        await other.execute("SELECT pg_advisory_unlock($1)", PG_LOCK_KEY)
        async with asyncio.timeout(10):
            await waiting
    finally:
        await other.close()
    assert await current_revision(pg_url) == head_revision()
