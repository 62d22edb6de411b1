"""Throwaway databases for tests: each one a copy of one migrated template, never migrated again per test.

Migrating costs ~0.5 s on SQLite and ~1 s on PostgreSQL, for each of hundreds of tests. Instead every process
(each pytest-xdist worker too) migrates one template once: a SQLite file it copies per test, and a PostgreSQL
database (``uhd_tpl_<hash>``) that ``CREATE DATABASE … TEMPLATE`` clones. The hash covers the migration files, so a
changed migration builds a new template; an advisory lock lets one worker build it while the others wait.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import uhd_telephony.store as store_pkg
from uhd_telephony.store.migrate import migrate

PG_ADMIN_DSN = os.environ.get("UHD_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
_LOCK_KEY = 0x75686474706C  # "uhdtpl": one template build at a time across processes

_sqlite_template: Path | None = None
_pg_template: str | None = None


def migrations_hash() -> str:
    """A digest of every migration file and the Alembic environment: the template's identity."""
    root = Path(store_pkg.__file__).resolve().parent / "migrations"
    digest = hashlib.sha256()
    for path in sorted([*root.glob("*.py"), *root.glob("*.ini"), *(root / "versions").glob("*.py")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _pg_base() -> str:
    return PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")


async def _admin():  # type: ignore[no-untyped-def]
    import asyncpg

    try:
        return await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:  # pragma: no cover - CI starts PostgreSQL
        pytest.fail(f"PostgreSQL at {PG_ADMIN_DSN} is not reachable: {exc}")


async def sqlite_template() -> Path:
    """This process's migrated SQLite file (built on first use)."""
    global _sqlite_template
    if _sqlite_template is None:
        folder = Path(tempfile.mkdtemp(prefix="uhd-sqlite-template-"))
        atexit.register(shutil.rmtree, folder, True)
        path = folder / "template.db"
        await migrate(f"sqlite+aiosqlite:///{path}")
        _sqlite_template = path
    return _sqlite_template


async def sqlite_database(folder: Path, *, migrated: bool = True) -> str:
    """A SQLite file in ``folder``: a copy of the migrated template, or a new empty one."""
    path = folder / "uhd-test.db"
    if migrated:
        shutil.copyfile(await sqlite_template(), path)
    return f"sqlite+aiosqlite:///{path}"


async def pg_template() -> str:
    """The name of the migrated PostgreSQL template of the current migrations (built once, shared by workers)."""
    global _pg_template
    if _pg_template is not None:
        return _pg_template
    name = f"uhd_tpl_{migrations_hash()}"
    admin = await _admin()
    try:
        await admin.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            found = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate", name)
            if not found:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.execute(f'CREATE DATABASE "{name}"')
                await migrate(f"{_pg_base()}/{name}")
                # marked a template only once complete: a build that died half-way is rebuilt, never cloned
                await admin.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')
            # templates of older migrations are of no use any more
            for (old,) in await admin.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE 'uhd\\_tpl\\_%' AND datname <> $1", name
            ):
                await admin.execute(f'ALTER DATABASE "{old}" WITH IS_TEMPLATE false')
                await admin.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
        finally:
            await admin.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await admin.close()
    _pg_template = name
    return name


# migrated databases this process made and may hand out again once emptied (TRUNCATE, far cheaper than a clone
# and a DROP): a test gets a database nobody else uses, at the migrations' head, with no rows
_pool: list[str] = []
_POOL_MAX = 4
_made: set[str] = set()


async def _empty_for_reuse(name: str) -> bool:
    """Remove every row of a used migrated database; False when it cannot be reused (then it is dropped)."""
    import asyncpg

    try:
        conn = await asyncpg.connect(PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}", timeout=10)
    except (OSError, asyncpg.PostgresError):
        return False
    try:
        await conn.execute("SET lock_timeout = '2s'")
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        tables = sorted(r["tablename"] for r in rows)
        if tables != await _template_tables():
            return False  # a test changed the schema: not the template's any more
        await conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
        others = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name
        )
        return others == 0  # a connection left open by the test: that database goes
    except (OSError, asyncpg.PostgresError):
        return False
    finally:
        await conn.close()


_tables: list[str] | None = None


async def _template_tables() -> list[str]:
    global _tables
    if _tables is None:
        from uhd_telephony.app.schema import metadata

        _tables = sorted(metadata.tables)
    return _tables


@contextlib.asynccontextmanager
async def throwaway_pg(*, migrated: bool = False) -> AsyncIterator[str]:
    """A PostgreSQL database of this test alone, yields its SQLAlchemy URL.

    ``migrated``: at the migrations' head with no rows — a clone of the migrated template, or one of this process's
    earlier ones emptied; else a new empty database. Emptied ones go back to the pool, the others are dropped.
    """
    name: str | None = _pool.pop() if migrated and _pool else None
    if name is None:
        template = await pg_template() if migrated else None
        name = f"uhd_test_{uuid.uuid4().hex[:12]}"
        admin = await _admin()
        try:
            if template is None:
                await admin.execute(f'CREATE DATABASE "{name}"')
            else:
                await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY WAL_LOG')
        finally:
            await admin.close()
        if migrated:
            _made.add(name)
    try:
        yield f"{_pg_base()}/{name}"
    finally:
        if migrated and len(_pool) < _POOL_MAX and await _empty_for_reuse(name):
            _pool.append(name)
        else:
            _made.discard(name)
            admin = await _admin()
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


async def drop_pool() -> None:
    """At the end of the session: the pooled databases go."""
    if not _pool:
        return
    admin = await _admin()
    try:
        while _pool:
            await admin.execute(f'DROP DATABASE IF EXISTS "{_pool.pop()}" WITH (FORCE)')
    finally:
        await admin.close()
