"""The caller lookup's read of the directory tables: only the rows of the caller's number, with the plain drivers.

The service keeps every tenant's directory in memory (``directory.lookup.DirectoryIndex``); the AGI script is a
new process per call with 500 ms to answer, so it reads just the owners of the caller's number keys, builds a
``TenantDirectory`` of them and lets ``TenantIndex`` rank them: the same rules as the service, on a few rows.

It talks to PostgreSQL through asyncpg and to SQLite through the standard library's sqlite3, not through
SQLAlchemy, which takes ~300 ms to import — more than half the budget. The table and column names are those of
``directory/models.py``; ``tests/agi`` checks them against the models and the results against DirectoryIndex.

The same connection first reads the tenant's open major incidents (``incidentdb``): every caller hears their
announcement, a withheld number too (then the directory is not asked).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from uhd_telephony.agi import incidentdb
from uhd_telephony.agi.incidentdb import IncidentRow
from uhd_telephony.directory.numbers import NumberingPlan
from uhd_telephony.directory.records import Phone, Place, TenantDirectory, User

PLAN_SQL = "SELECT region, extension_prefix, max_extension_length FROM directory_numbering WHERE tenant = {tenant}"
# the owners of the caller's keys, each with the phone(s) that matched; inactive entries never match
USERS_SQL = (
    "SELECT u.id, u.external_id, u.updated_at, u.name, u.department, u.role, u.location, u.email, u.vip, "
    "p.kind, p.number, p.raw "
    "FROM directory_phones p JOIN directory_users u ON u.id = p.user_id "
    "WHERE p.tenant = {tenant} AND u.tenant = {tenant} AND u.active AND p.number IN ({keys}) ORDER BY p.id"
)
PLACES_SQL = (
    "SELECT l.id, l.external_id, l.updated_at, l.name, l.department, l.location, "
    "p.kind, p.number, p.raw "
    "FROM directory_phones p JOIN directory_places l ON l.id = p.place_id "
    "WHERE p.tenant = {tenant} AND l.tenant = {tenant} AND l.active AND p.number IN ({keys}) ORDER BY p.id"
)


class UnsupportedDatabase(Exception):
    """The database URL is neither SQLite (a file) nor PostgreSQL."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where the directory is: ``sqlite`` and a file path, or ``postgresql`` and an asyncpg DSN."""

    kind: str
    location: str

    def __repr__(self) -> str:  # never show a password in a log line
        if self.kind == "postgresql":
            parts = urlsplit(self.location)
            host = parts.hostname or ""
            return f"Target(postgresql://{host}{':' + str(parts.port) if parts.port else ''}{parts.path})"
        return f"Target(sqlite:{self.location})"


def target_of(url: str) -> Target:
    """The SQLAlchemy URL of ``UHD_DATABASE_URL`` as something the plain drivers open."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise UnsupportedDatabase(f"not a database URL: {url[:40]!r}")
    backend = scheme.split("+", 1)[0].lower()
    if backend == "sqlite":
        path = unquote(rest.split("?", 1)[0])
        # sqlite:///relative.db -> "/relative.db" after the authority: strip the one slash of the empty host
        path = path[1:] if path.startswith("/") else path
        if not path or path == ":memory:":
            raise UnsupportedDatabase("an in-memory SQLite database belongs to another process")
        return Target("sqlite", path)
    if backend in ("postgresql", "postgres"):
        return Target("postgresql", "postgresql://" + rest)
    raise UnsupportedDatabase(f"unsupported database {backend!r}")


@dataclass(frozen=True, slots=True)
class CallerFacts:
    """What one call's lookup read: the tenant's open incidents (newest first) and, for a caller with a number,
    the directory's rows of that number (None: not asked)."""

    incidents: tuple[IncidentRow, ...]
    directory: TenantDirectory | None


async def fetch_caller(
    target: Target, tenant: str, raw_number: str | None, timeout_s: float, *, now: datetime | None = None
) -> CallerFacts:
    """The tenant's open incidents, stamped as announced (``now``) where this is their first call, and the
    numbering plan and active users and places owning the keys of ``raw_number`` (None: no directory read)."""
    at = now or datetime.now(UTC)
    if target.kind == "sqlite":
        facts = _fetch_sqlite(target.location, tenant, raw_number, timeout_s)
        incidentdb.stamp_sqlite(target.location, tenant, incidentdb.unannounced(facts.incidents), at, timeout_s)
        return facts
    return await _fetch_postgres(target.location, tenant, raw_number, timeout_s, at)


async def fetch_directory(target: Target, tenant: str, raw_number: str, timeout_s: float) -> TenantDirectory:
    """The tenant's numbering plan and the active users and places owning the keys of ``raw_number``."""
    if target.kind == "sqlite":
        conn = _open_sqlite(target.location, timeout_s)
        try:
            return _directory_sqlite(conn, tenant, raw_number)
        finally:
            conn.close()
    facts = await _fetch_postgres(target.location, tenant, raw_number, timeout_s, None)
    assert facts.directory is not None
    return facts.directory


def _plan(row: Sequence[Any] | None) -> NumberingPlan:
    if row is None:
        return NumberingPlan()
    return NumberingPlan(row[0], row[1], int(row[2]))


def _open_sqlite(path: str, timeout_s: float) -> sqlite3.Connection:
    # read-only: a lookup never creates an empty database where the real one is missing
    return sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=max(timeout_s, 0.001))


def _fetch_sqlite(path: str, tenant: str, raw_number: str | None, timeout_s: float) -> CallerFacts:
    conn = _open_sqlite(path, timeout_s)
    try:
        incidents = incidentdb.read_sqlite(conn, tenant)
        directory = None if raw_number is None else _directory_sqlite(conn, tenant, raw_number)
    finally:
        conn.close()
    return CallerFacts(incidents, directory)


def _directory_sqlite(conn: sqlite3.Connection, tenant: str, raw_number: str) -> TenantDirectory:
    plan = _plan(conn.execute(PLAN_SQL.format(tenant="?"), (tenant,)).fetchone())
    keys = plan.keys(raw_number)
    if not keys:
        return TenantDirectory(tenant, plan)
    marks = ", ".join("?" for _ in keys)
    users = conn.execute(USERS_SQL.format(tenant="?", keys=marks), (tenant, tenant, *keys)).fetchall()
    places = conn.execute(PLACES_SQL.format(tenant="?", keys=marks), (tenant, tenant, *keys)).fetchall()
    return _directory(tenant, plan, users, places)


async def _fetch_postgres(
    dsn: str, tenant: str, raw_number: str | None, timeout_s: float, incidents_at: datetime | None
) -> CallerFacts:
    """Open incidents (read, and stamped as announced at ``incidents_at``; None: not read) and directory rows on
    one connection."""
    import asyncpg  # only here: a SQLite installation never pays for it

    conn = await asyncpg.connect(dsn, timeout=timeout_s, command_timeout=timeout_s)
    try:
        incidents: tuple[IncidentRow, ...] = ()
        if incidents_at is not None:
            incidents = await incidentdb.read_postgres(conn, tenant)
            await incidentdb.stamp_postgres(conn, tenant, incidentdb.unannounced(incidents), incidents_at)
        directory = None if raw_number is None else await _directory_postgres(conn, tenant, raw_number)
    except BaseException:
        conn.terminate()  # cancelled by the deadline or failed: no goodbye round trip
        raise
    await conn.close(timeout=timeout_s)
    return CallerFacts(incidents, directory)


async def _directory_postgres(conn: Any, tenant: str, raw_number: str) -> TenantDirectory:
    plan = _plan(await conn.fetchrow(PLAN_SQL.format(tenant="$1"), tenant))
    keys = plan.keys(raw_number)
    if not keys:
        return TenantDirectory(tenant, plan)
    marks = ", ".join(f"${n}" for n in range(2, len(keys) + 2))
    users = await conn.fetch(USERS_SQL.format(tenant="$1", keys=marks), tenant, *keys)
    places = await conn.fetch(PLACES_SQL.format(tenant="$1", keys=marks), tenant, *keys)
    return _directory(tenant, plan, users, places)


def _utc(value: Any) -> datetime | None:
    """``updated_at`` as the store's UtcDateTime gives it: aware UTC (SQLite keeps naive UTC text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _directory(
    tenant: str, plan: NumberingPlan, user_rows: Iterable[Sequence[Any]], place_rows: Iterable[Sequence[Any]]
) -> TenantDirectory:
    users: dict[int, tuple[Sequence[Any], list[Phone]]] = {}
    for row in user_rows:
        users.setdefault(row[0], (row, []))[1].append(Phone(row[9], row[10], row[11]))
    places: dict[int, tuple[Sequence[Any], list[Phone]]] = {}
    for row in place_rows:
        places.setdefault(row[0], (row, []))[1].append(Phone(row[6], row[7], row[8]))
    return TenantDirectory(
        tenant,
        plan,
        tuple(
            User(
                tenant,
                row[1],
                row[3],
                department=row[4],
                role=row[5],
                location=row[6],
                email=row[7],
                vip=bool(row[8]),
                phones=tuple(phones),
                id=int(row[0]),
                updated_at=_utc(row[2]),
            )
            for row, phones in users.values()
        ),
        tuple(
            Place(
                tenant,
                row[1],
                row[3],
                department=row[4],
                location=row[5],
                phones=tuple(phones),
                id=int(row[0]),
                updated_at=_utc(row[2]),
            )
            for row, phones in places.values()
        ),
    )
