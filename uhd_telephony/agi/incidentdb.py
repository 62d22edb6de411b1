"""The lookup's read of the tenant's open major incidents, and the stamp of the first announcement, with the plain
drivers on the connection the directory read uses (callerdb): one more query per call, nothing more when there is
no incident.

The same reads as ``incidents.phone.open_incidents`` and ``mark_communicated`` (SQLAlchemy, ~0.7 s to import: more
than the lookup's whole budget), written by hand against ``incidents/models.py``; tests/agi checks the names and
that both give the same answers. A failure here never fails the lookup: no incident is announced (the table
missing before the migration, a locked SQLite file), the stamp is tried again by the next call.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

log = logging.getLogger("uhd_telephony.agi")

OPEN_SQL = (
    "SELECT id, prompt, communicated_at FROM major_incidents WHERE tenant = {tenant} AND status = 'open' "
    "ORDER BY declared_at DESC, id DESC"
)
STAMP_SQL = (
    "UPDATE major_incidents SET communicated_at = {at} "
    "WHERE tenant = {tenant} AND status = 'open' AND communicated_at IS NULL AND id IN ({ids})"
)


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """One open incident as the lookup reads it: id, its announcement (None: the generic one), whether it was
    announced before."""

    id: int
    prompt: str | None
    announced: bool


def _rows(rows: Sequence[Sequence[Any]]) -> tuple[IncidentRow, ...]:
    return tuple(IncidentRow(int(r[0]), r[1], r[2] is not None) for r in rows)


def unannounced(rows: Sequence[IncidentRow]) -> list[int]:
    """The ids still without ``communicated_at``: this call's announcement is their first."""
    return [r.id for r in rows if not r.announced]


def sqlite_time(at: datetime) -> str:
    """``at`` as the store keeps times in SQLite (``UtcDateTime``): naive UTC text with microseconds."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def read_sqlite(conn: sqlite3.Connection, tenant: str) -> tuple[IncidentRow, ...]:
    """The tenant's open incidents, newest first; none when they cannot be read."""
    try:
        return _rows(conn.execute(OPEN_SQL.format(tenant="?"), (tenant,)).fetchall())
    except sqlite3.Error as exc:
        log.warning("caller lookup: open incidents unreadable (%s): none announced", exc)
        return ()


def stamp_sqlite(path: str, tenant: str, ids: Sequence[int], at: datetime, timeout_s: float) -> None:
    """Stamp ``communicated_at`` on ``ids``: a short write connection of its own (the lookup reads read-only)."""
    if not ids:
        return
    try:
        # mode=rw: never creates a database where the real one is missing
        conn = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=max(timeout_s, 0.001))
        try:
            with conn:
                marks = ", ".join("?" for _ in ids)
                conn.execute(STAMP_SQL.format(at="?", tenant="?", ids=marks), (sqlite_time(at), tenant, *ids))
        finally:
            conn.close()
    except sqlite3.Error as exc:
        log.warning("caller lookup: the first announcement not stamped (%s): the next call tries again", exc)


async def read_postgres(conn: Any, tenant: str) -> tuple[IncidentRow, ...]:
    """The tenant's open incidents, newest first (an asyncpg connection); none when they cannot be read."""
    import asyncpg

    try:
        return _rows(await conn.fetch(OPEN_SQL.format(tenant="$1"), tenant))
    except asyncpg.PostgresError as exc:
        log.warning("caller lookup: open incidents unreadable (%s): none announced", type(exc).__name__)
        return ()


async def stamp_postgres(conn: Any, tenant: str, ids: Sequence[int], at: datetime) -> None:
    """Stamp ``communicated_at`` on ``ids`` (an asyncpg connection)."""
    import asyncpg

    if not ids:
        return
    marks = ", ".join(f"${n}" for n in range(3, len(ids) + 3))
    try:
        await conn.execute(STAMP_SQL.format(at="$1", tenant="$2", ids=marks), at, tenant, *ids)
    except asyncpg.PostgresError as exc:
        log.warning("caller lookup: the first announcement not stamped (%s)", type(exc).__name__)
