"""Schema migrations run from code (``uhd-telephony migrate``): Alembic with the revisions shipped in the package.

Alembic is imported only to migrate (its import costs more than a read command's whole work): which revision a
database is at is one plain query of ``alembic_version``, and the newest revision shipped is read from the
``revision``/``down_revision`` lines of the files in ``migrations/versions/``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from uhd_telephony.errors import StoreError
from uhd_telephony.store.db import create_engine

if TYPE_CHECKING:
    from alembic.config import Config

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
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        # ConfigParser interpolation: a "%" in a password would otherwise be read as a reference
        cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return cfg


# a revision file's own id and the one it follows, as Alembic's script template writes them
_REVISION = re.compile(r"""^revision(?:\s*:[^=\n]*)?\s*=\s*["']([^"'\n]+)["']""", re.MULTILINE)
_DOWN = re.compile(r"""^down_revision(?:\s*:[^=\n]*)?\s*=\s*(?:None|["']([^"'\n]+)["'])\s*$""", re.MULTILINE)


def revisions() -> list[str]:
    """The revisions shipped with this version of the package, oldest first (a linear chain, DEVELOPERS.md).

    Read from the files' ``revision`` and ``down_revision`` lines, without Alembic; a chain these lines do not
    describe plainly (a merge, a branch) is left to Alembic's own reading.
    """
    follows: dict[str | None, str] = {}
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        rev, down = _REVISION.search(source), _DOWN.search(source)
        if rev is None or down is None or down.group(1) in follows:
            return _alembic_revisions()
        follows[down.group(1)] = rev.group(1)
    chain: list[str] = []
    current = follows.get(None)
    while current is not None:
        chain.append(current)
        current = follows.get(current)
    if len(chain) != len(follows):
        return _alembic_revisions()
    return chain


def _alembic_revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return [s.revision for s in reversed(list(script.walk_revisions("base", "heads")))]


def head_revision() -> str:
    """The newest revision shipped with this version of the package."""
    chain = revisions()
    if not chain:  # pragma: no cover - the package ships 0001
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return chain[-1]


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
            return await revision_of(conn)
    finally:
        await engine.dispose()


async def revision_of(conn: AsyncConnection) -> str | None:
    """The revision of the database ``conn`` is connected to (None: never migrated), with one plain query."""
    return await conn.run_sync(_current)


def _current(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    found = [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]
    if len(found) > 1:  # pragma: no cover - the chain is linear
        raise StoreError(f"the database is at several revisions at once: {', '.join(sorted(found))}")
    return found[0] if found else None


def schema_problem(current: str | None, *, url: str = "the database") -> str | None:
    """What keeps a command that only reads from using a database at revision ``current``; None: nothing.

    The database must be at the newest revision shipped: a command that only reads never migrates.
    """
    chain = revisions()
    head = chain[-1]
    if current == head:
        return None
    if current is None:
        return f"{url} has no schema yet: run uhd-telephony migrate"
    if current in chain:
        return f"the schema of {url} is at revision {current}, this version needs {head}: run uhd-telephony migrate"
    return (
        f"the schema of {url} is at revision {current}, which this version of uhd-telephony does not know "
        f"(newest: {head}): a newer version migrated it"
    )


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
    from alembic import command

    cfg.attributes["connection"] = conn
    if direction == "upgrade":
        command.upgrade(cfg, revision)
    else:
        command.downgrade(cfg, revision)
