"""The database connection: one async engine per URL (SQLite file by default, PostgreSQL in production)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Table, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.dml import Insert

from uhd_telephony.errors import ConfigError

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5_000
PG_CONNECT_TIMEOUT_S = 5.0
# a statement that takes longer than this is broken, not slow: a call-record batch takes milliseconds
PG_COMMAND_TIMEOUT_S = 30.0
PG_POOL_SIZE = 5
PG_MAX_OVERFLOW = 5
PG_POOL_TIMEOUT_S = 10.0  # waiting for a free pooled connection: all ten busy means something is stuck


def _parse(url: str | URL) -> URL:
    try:
        return make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError, but also ValueError for bad ports
        raise ConfigError(f"invalid database URL: {exc}", {"url": str(url)}) from exc


def create_engine(
    url: str | URL,
    *,
    echo: bool = False,
    sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    pg_connect_timeout_s: float = PG_CONNECT_TIMEOUT_S,
    pg_command_timeout_s: float = PG_COMMAND_TIMEOUT_S,
    pg_pool_size: int = PG_POOL_SIZE,
    pg_max_overflow: int = PG_MAX_OVERFLOW,
) -> AsyncEngine:
    """An AsyncEngine for ``sqlite+aiosqlite://`` or ``postgresql+asyncpg://`` URLs, tuned for this service."""
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, echo=echo, busy_timeout_ms=sqlite_busy_timeout_ms)
    if backend == "postgresql":
        if parsed.get_driver_name() != "asyncpg":
            # the plain "postgresql://" of a DSN means psycopg2, which is neither async nor installed
            parsed = parsed.set(drivername="postgresql+asyncpg")
        return create_async_engine(
            parsed,
            echo=echo,
            hide_parameters=True,  # errors and logs must not carry bound values: password hashes, tokens
            # a connection the server or a firewall dropped is noticed at checkout, not by the next INSERT
            pool_pre_ping=True,
            pool_size=pg_pool_size,
            max_overflow=pg_max_overflow,
            pool_timeout=PG_POOL_TIMEOUT_S,
            # a server restart leaves stale connections; recycling bounds how long one can hide in the pool
            pool_recycle=1800,
            connect_args={"timeout": pg_connect_timeout_s, "command_timeout": pg_command_timeout_s},
        )
    raise ConfigError(
        f"unsupported database {backend!r}: use sqlite+aiosqlite:///path or postgresql+asyncpg://...",
        {"url": parsed.render_as_string(hide_password=True)},
    )


def _sqlite_engine(url: URL, *, echo: bool, busy_timeout_ms: int) -> AsyncEngine:
    if url.get_driver_name() != "aiosqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    options: dict[str, Any] = {}
    memory = url.database in (None, "", ":memory:")
    if memory:
        # every new connection to ":memory:" is a new empty database: share one connection
        options["poolclass"] = StaticPool
    engine = create_async_engine(url, echo=echo, hide_parameters=True, **options)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                # WAL lets readers (API, reports) run while the writer commits
                cursor.execute("PRAGMA journal_mode=WAL")
            # wait for a competing writer instead of failing at once with "database is locked"
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return engine


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached right now (refused, dropped, timed out, locked,
    restarting): the same work may succeed later. False for errors about the data or the statement."""
    if isinstance(error, (OSError, TimeoutError, sa_exc.TimeoutError, sa_exc.OperationalError, sa_exc.InterfaceError)):
        return True
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    # asyncpg raises some of its own while connecting (the server starting up, too many connections)
    return type(error).__module__.startswith("asyncpg") and type(error).__name__ in {
        "CannotConnectNowError",
        "TooManyConnectionsError",
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "InterfaceError",
    }


class Database:
    """An engine and its session factory; close it once, on shutdown."""

    def __init__(self, url: str | URL, *, engine: AsyncEngine | None = None, **engine_options: Any) -> None:
        self.engine = engine if engine is not None else create_engine(url, **engine_options)
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(self.engine, expire_on_commit=False)
        self._closed = False

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @property
    def url(self) -> str:
        """The URL with the password masked, for logs and the health endpoint."""
        return self.engine.url.render_as_string(hide_password=True)

    async def ping(self, timeout_s: float = 2.0) -> bool:
        """True when a ``SELECT 1`` round trip succeeds within the timeout (the health check)."""
        try:
            async with asyncio.timeout(timeout_s):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception as exc:  # the health check reports, the caller decides
            log.debug("database ping to %s failed: %r", self.url, exc)
            return False
        return True

    async def close(self) -> None:
        """Close every pooled connection; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def insert_or_nothing(dialect: str, table: Table, keys: Sequence[Column[Any]]) -> Insert:
    """An insert into ``table`` that skips a row whose ``keys`` (a unique index) are there already: the database
    decides a race (two clicks, two replicas), not a read before the write."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    raise NotImplementedError(f"no insert-or-nothing for database dialect {dialect!r}")
