"""The engine factory and Database: SQLite pragmas, PostgreSQL pool options, the health check."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from uhd_telephony.errors import ConfigError
from uhd_telephony.store.db import Database, create_engine


async def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(sqlite_url: str) -> None:
    async with Database(sqlite_url, sqlite_busy_timeout_ms=1234) as db:
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() == 1234
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
        assert db.dialect == "sqlite"


async def test_in_memory_sqlite_keeps_one_database_across_connections() -> None:
    async with Database("sqlite+aiosqlite://") as db:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_plain_postgresql_url_gets_the_asyncpg_driver(pg_url: str) -> None:
    async with Database(pg_url.replace("postgresql+asyncpg://", "postgresql://")) as db:
        assert db.engine.url.drivername == "postgresql+asyncpg"
        assert isinstance(db.engine.pool, QueuePool)
        assert db.engine.pool.size() == 5
        assert await db.ping()


async def test_ping_is_true_on_a_live_database(db_url: str) -> None:
    async with Database(db_url) as db:
        assert await db.ping()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_ping_is_false_quickly_when_postgresql_is_unreachable() -> None:
    db = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/test")
    try:
        started = time.monotonic()
        assert not await db.ping(timeout_s=2.0)
        assert time.monotonic() - started < 2.5
    finally:
        await db.close()


async def test_ping_is_false_when_the_sqlite_file_cannot_be_opened(tmp_path: Path) -> None:
    async with Database(f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}") as db:
        assert not await db.ping()


def test_the_url_in_logs_hides_the_password() -> None:
    engine = create_engine("postgresql+asyncpg://uhd:s3cret@db.example:5432/uhd")
    try:
        db = Database("", engine=engine)
        assert "s3cret" not in db.url
        assert "***" in db.url
    finally:
        engine.sync_engine.dispose()


@pytest.mark.parametrize("url", ["mysql+aiomysql://u@h/db", "not a url", "sqlite+aiosqlite://x:notaport/"])
def test_unsupported_or_invalid_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        create_engine(url)


async def test_close_is_idempotent(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    assert await db.ping()
    await db.close()
    await db.close()


async def test_database_errors_never_carry_bound_values(db_url: str) -> None:
    """A failing statement's message (logged, maybe shown) must not contain what was bound: hashes, tokens."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    secret = "scrypt$16384$8$1$c2VjcmV0$bm90LWEtcmVhbC1oYXNo"
    async with Database(db_url) as db:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE leak_probe (v VARCHAR(80) PRIMARY KEY)"))
        with pytest.raises(IntegrityError) as caught:
            async with db.engine.begin() as conn:
                for _ in range(2):
                    await conn.execute(text("INSERT INTO leak_probe (v) VALUES (:v)"), {"v": secret})
    assert secret not in str(caught.value) and "hidden" in str(caught.value)
