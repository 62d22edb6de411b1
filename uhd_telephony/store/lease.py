"""Who tracks the calls: one process per PBX holds the tracker lease, the others stand by and take over.

Exactly one process may consume a PBX's AMI stream and run the scanners (SLA, outbox, catch-up): two would write
every call twice and send every mail twice. Every process with a tracker part (``uhd-telephony run --role
tracker|all``) asks for the lease of its PBX (the AMI host and port) before it connects; the one holding it works,
the others wait and ask again every ``retry_s``.

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection of the lease's own, held
  as long as that connection lives. A process that dies (``kill -9`` included) closes its socket and the server
  drops the lock at once; a host that vanishes without closing it is found dead by TCP keepalives within about
  ``KEEPALIVE_IDLE_S + KEEPALIVE_INTERVAL_S * KEEPALIVE_COUNT`` seconds (set for this connection only). The holder
  checks its connection every ``retry_s``: when the connection is gone the lock may be someone else's already,
  so the holder is told (``lost``) and must stop tracking at once.
- SQLite: an exclusive ``flock`` on a file beside the database (``<db>.tracker-lock``): processes on one machine,
  released by the kernel when the holder dies. An in-memory database has nobody to share with: the lease is
  granted at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

RETRY_S = 1.0  # how often a standby asks again, and how often the holder checks its connection
CHECK_TIMEOUT_S = 2.0
KEEPALIVE_IDLE_S = 5  # the server's TCP keepalive on the lease's connection: a vanished holder is dead after ~11 s
KEEPALIVE_INTERVAL_S = 2
KEEPALIVE_COUNT = 3


def lease_key(name: str) -> int:
    """The advisory lock's 64-bit key for a lease name (``tracker:<ami host>:<port>``)."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


class Lease(ABC):
    """``await acquire()`` returns once this process holds the lease; ``lost`` is set when it stops holding it
    (its connection died); ``release()`` gives it back."""

    def __init__(self, name: str, *, retry_s: float = RETRY_S) -> None:
        self.name = name
        self.retry_s = retry_s
        self.held = False
        self.lost = asyncio.Event()
        self.attempts = 0  # how often it was asked for (a standby: once a second)

    @abstractmethod
    async def try_acquire(self) -> bool:
        """Ask once: True when this process holds the lease now."""

    async def acquire(self) -> None:
        """Ask every ``retry_s`` until this process holds the lease."""
        while not await self.try_acquire():
            if self.attempts == 1:
                log.info("tracker lease %s is held by another process: standing by", self.name)
            await asyncio.sleep(self.retry_s)

    @abstractmethod
    async def release(self) -> None:
        """Give the lease back (idempotent)."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "held": self.held, "lost": self.lost.is_set(), "attempts": self.attempts}


class LocalLease(Lease):
    """An in-memory database: nobody else can track it, the lease is this process's."""

    async def try_acquire(self) -> bool:
        self.attempts += 1
        self.held = True
        return True

    async def release(self) -> None:
        self.held = False


class FileLease(Lease):
    """SQLite: ``flock`` on ``path`` (processes of one machine share a SQLite file only there)."""

    def __init__(self, name: str, path: str, *, retry_s: float = RETRY_S) -> None:
        super().__init__(name, retry_s=retry_s)
        self.path = path
        self._fd: int | None = None

    async def try_acquire(self) -> bool:
        if self.held:
            return True
        self.attempts += 1
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        self.held = True
        return True

    async def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self.held = False


class PostgresLease(Lease):
    """PostgreSQL: an advisory lock on a connection of its own, watched while held."""

    def __init__(
        self,
        name: str,
        dsn: str,
        *,
        retry_s: float = RETRY_S,
        connect: Callable[..., Any] = asyncpg.connect,
    ) -> None:
        super().__init__(name, retry_s=retry_s)
        self.dsn = dsn
        self.key = lease_key(name)
        self._connect = connect
        self._conn: asyncpg.Connection | None = None
        self._watch: asyncio.Task[None] | None = None

    async def _open(self) -> asyncpg.Connection:
        return await self._connect(
            self.dsn,
            timeout=CHECK_TIMEOUT_S * 2,
            server_settings={
                "application_name": f"uhd-telephony lease {self.name}"[:63],
                "tcp_keepalives_idle": str(KEEPALIVE_IDLE_S),
                "tcp_keepalives_interval": str(KEEPALIVE_INTERVAL_S),
                "tcp_keepalives_count": str(KEEPALIVE_COUNT),
            },
        )

    async def try_acquire(self) -> bool:
        if self.held:
            return True
        self.attempts += 1
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await self._open()
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                got = bool(await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key))
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("tracker lease %s: the database did not answer (%s); asking again", self.name, exc)
            await self._drop_connection()
            return False
        if got:
            self.held = True
            self.lost.clear()
            self._watch = asyncio.create_task(self._watch_connection(), name=f"lease:{self.name}")
        return got

    async def _watch_connection(self) -> None:
        """While held: the lock lives as long as the connection; a connection that does not answer may have lost
        it to a standby already."""
        while self.held:
            await asyncio.sleep(self.retry_s)
            try:
                assert self._conn is not None
                async with asyncio.timeout(CHECK_TIMEOUT_S):
                    await self._conn.fetchval("SELECT 1")
            except (OSError, TimeoutError, AssertionError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.error("tracker lease %s lost: its database connection failed (%s)", self.name, exc)
                self.held = False
                self.lost.set()
                await self._drop_connection()
                return

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.terminate()

    async def release(self) -> None:
        self.held = False
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                async with asyncio.timeout(CHECK_TIMEOUT_S):
                    await conn.close()  # closing the session releases its advisory locks
            except Exception:  # the server drops the lock with the connection anyway
                conn.terminate()


def make_lease(database_url: str, name: str, *, retry_s: float = RETRY_S) -> Lease:
    """The lease for ``name`` in the database at ``database_url``."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresLease(name, dsn, retry_s=retry_s)
    if url.database in (None, "", ":memory:"):
        return LocalLease(name, retry_s=retry_s)
    return FileLease(name, f"{url.database}.tracker-lock", retry_s=retry_s)
