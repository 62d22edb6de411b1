"""The open incidents of a tenant as the screen-pop shows them: read once, kept in memory until one changes.

Every answered call's pop carries its tenant's open incidents (the console's "belongs to the major incident"), so a
pop must not cost a query when nothing changed: the list is kept per database and tenant, and every change this
process makes (declare, edit, resolve — also a parent ticket resolved on the ticket page: ``incidents.cascade``)
drops it. A change made by another process (a web process beside the tracker) is seen after ``CACHE_S`` at most.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.i18n import LOCALES, format_datetime
from uhd_telephony.incidents.models import IncidentStatus
from uhd_telephony.incidents.view import IncidentView, incidents, read, view_select
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.history import iso

CACHE_S = 15.0


class _Board:
    """One database's cache: per tenant when it was read and what, and how often it changed (a read that was
    under way during a change is not kept)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self.versions: dict[str, int] = {}


_boards: weakref.WeakKeyDictionary[Engine, _Board] = weakref.WeakKeyDictionary()


def _board(engine: Engine) -> _Board:
    board = _boards.get(engine)
    if board is None:
        board = _boards[engine] = _Board()
    return board


def changed(bind: Database | AsyncConnection, tenant: str) -> None:
    """The tenant's open incidents changed (through ``bind``'s database): the next pop reads them again."""
    board = _board(bind.engine.sync_engine)
    board.entries.pop(tenant, None)
    board.versions[tenant] = board.versions.get(tenant, 0) + 1


def pop_entry(view: IncidentView) -> dict[str, Any]:
    """An open incident as the pop carries it: what the agent reads and what the link button needs."""
    return {
        "id": view.id,
        "title": view.title,
        "caller_message": view.caller_message,
        "category": view.category,
        "category_label": view.category_label,
        "declared_at": iso(view.declared_at),
        # the console's languages: the agent reads "seit 07.12.2026, 12:05" without a clock of its own
        "declared_at_text": {locale: format_datetime(view.declared_at, locale) for locale in LOCALES},
    }


async def open_incidents(db: Database, tenant: str) -> list[dict[str, Any]]:
    """The tenant's open incidents, newest declared first, as ``pop_entry`` shapes them (from memory when fresh)."""
    board = _board(db.engine.sync_engine)
    now = time.monotonic()
    kept = board.entries.get(tenant)
    if kept is not None and now - kept[0] < CACHE_S:
        return kept[1]
    version = board.versions.get(tenant, 0)
    stmt = (
        view_select()
        .where(incidents.c.tenant == tenant, incidents.c.status == IncidentStatus.OPEN.value)
        .order_by(incidents.c.declared_at.desc(), incidents.c.id.desc())
    )
    async with db.engine.connect() as conn:
        entries = [pop_entry(v) for v in await read(conn, tenant, stmt)]
    if board.versions.get(tenant, 0) == version:  # else a change came while reading: read again next time
        if len(board.entries) > 10_000:  # tenants are few; made-up ones must not grow this
            board.entries.clear()
        board.entries[tenant] = (now, entries)
    return entries
