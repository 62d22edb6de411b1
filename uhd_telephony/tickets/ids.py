"""Human-readable ticket numbers, ``UHD-<year>-<6 digits>``, unique per installation.

The sequence restarts each year and is kept in one ``ticket_counters`` row per year. The row is incremented by
an ``INSERT .. ON CONFLICT DO UPDATE .. RETURNING`` inside the transaction that inserts the ticket: the row
lock (PostgreSQL) or the database write lock (SQLite) makes every other instance wait for that transaction to
end, so no two ever read the same value, and a transaction that rolls back (the ticket already existed) gives
its number back — no gaps from duplicate attempts. The unique constraint on ``tickets.number`` backs this up.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.errors import StoreError
from uhd_telephony.store.models import table_of
from uhd_telephony.tickets.models import TicketCounter

PREFIX = "UHD"
DIGITS = 6  # a year with more than 999,999 tickets gets a seventh digit rather than a collision
NUMBER_RE = re.compile(rf"^{PREFIX}-(\d{{4}})-(\d{{{DIGITS},}})$")

counters = table_of(TicketCounter)


def format_number(year: int, sequence: int) -> str:
    """``UHD-2026-000123`` for the 123rd ticket of 2026."""
    if not 1000 <= year <= 9999 or sequence < 1:
        raise ValueError(f"no ticket number for year {year} and sequence {sequence}")
    return f"{PREFIX}-{year:04d}-{sequence:0{DIGITS}d}"


def parse_number(number: str) -> tuple[int, int] | None:
    """(year, sequence) of a well-formed ticket number (case and surrounding blanks ignored), else None."""
    match = NUMBER_RE.match(number.strip().upper())
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def normalise_number(number: str) -> str | None:
    """The canonical spelling of a ticket number someone typed (``uhd-2026-123`` stays invalid), or None."""
    parsed = parse_number(number)
    return None if parsed is None else format_number(*parsed)


def number_year(now: datetime, tz: tzinfo) -> int:
    """The year a ticket created at ``now`` is numbered in: the helpdesk's local year, not UTC's."""
    return now.astimezone(tz).year


def _increment(dialect: str, scope: str) -> Insert:
    if dialect == "postgresql":
        pg = postgresql.insert(counters).values(scope=scope, value=1)
        return pg.on_conflict_do_update(
            index_elements=[counters.c.scope], set_={"value": counters.c.value + 1}
        ).returning(counters.c.value)
    if dialect == "sqlite":
        lite = sqlite.insert(counters).values(scope=scope, value=1)
        return lite.on_conflict_do_update(
            index_elements=[counters.c.scope], set_={"value": counters.c.value + 1}
        ).returning(counters.c.value)
    raise StoreError(f"no ticket counter for database dialect {dialect!r}")


async def next_number(conn: AsyncConnection, year: int) -> str:
    """Take the next number of ``year`` in the caller's transaction (make it the transaction's first write)."""
    value = (await conn.execute(_increment(conn.dialect.name, str(year)))).scalar_one()
    return format_number(year, int(value))
