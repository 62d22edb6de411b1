"""Schema migrations run from code (``uhd-telephony migrate``): Alembic with the revisions shipped in the package."""

from __future__ import annotations

import asyncio
import logging
import weakref
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from uhd_telephony.store.db import create_engine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# PostgreSQL advisory lock key ("uhdmigr" in ASCII): two instances starting at once migrate one after the other
PG_LOCK_KEY = 0x7568646D696772
# Alembic keeps the running migration in a module global (alembic.context): one migration at a time per process
_process_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _process_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _process_locks.get(loop)
    if lock is None:
        lock = _process_locks[loop] = asyncio.Lock()
    return lock


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic Config built in code: independent of the working directory and of any alembic.ini."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        # ConfigParser interpolation: a "%" in a password would otherwise be read as a reference
        cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest revision shipped with this version of the package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships 0001
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


async def migrate(url: str | URL, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision``; a database already there is left untouched."""
    await _run(url, "upgrade", revision)


async def downgrade(url: str | URL, revision: str) -> None:
    """Downgrade the database at ``url`` to ``revision`` (``base`` removes every table)."""
    await _run(url, "downgrade", revision)


async def current_revision(url: str | URL) -> str | None:
    """The revision the database at ``url`` is at, or None when it was never migrated."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_current)
    finally:
        await engine.dispose()


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


async def _run(url: str | URL, direction: str, revision: str) -> None:
    engine: AsyncEngine = create_engine(url)
    cfg = alembic_config(url)
    try:
        async with _process_lock(), engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # held until this transaction ends; PostgreSQL runs the DDL in the same transaction
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
            before = await conn.run_sync(_current)
            await conn.run_sync(_command, cfg, direction, revision)
            after = await conn.run_sync(_current)
    finally:
        await engine.dispose()
    if before == after:
        log.info("database schema at %s already at revision %s", engine.url.render_as_string(), after)
    else:
        log.info("database schema at %s: %s -> %s", engine.url.render_as_string(), before, after)


def _command(conn: Connection, cfg: Config, direction: str, revision: str) -> None:
    cfg.attributes["connection"] = conn
    if direction == "upgrade":
        command.upgrade(cfg, revision)
    else:
        command.downgrade(cfg, revision)
