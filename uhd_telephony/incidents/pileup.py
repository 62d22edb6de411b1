"""Pile-ups: when tickets of one category come in fast, the lead is offered to declare a major incident.

A tenant's threshold is ``count`` tickets of one category within ``minutes`` (default 5 within 15; per tenant in
``incident_settings``, set by its managers or an admin). ``pile_ups`` (pure) looks at the tenant's tickets of
the last ``lookback`` (twice the window, at least two hours: a pile-up an hour ago is most likely still going on)
that belong to no incident, category by category (the category exactly as classified): a category is offered
when some ``minutes``-long span holds ``count`` of them (the first and the last at most ``minutes`` apart) and no
open incident covers it — one of that category or of a category above it (an incident "KIS" covers "KIS ›
Anmeldung"). The offer lists every such ticket of the lookback: declaring from it links them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.errors import InvalidInput
from uhd_telephony.i18n import Label, Msg
from uhd_telephony.incidents.models import IncidentSettings, IncidentStatus
from uhd_telephony.incidents.view import category_labels, incidents, links
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of
from uhd_telephony.tickets.history import iso
from uhd_telephony.tickets.view import categories, tickets

settings_table = table_of(IncidentSettings)

DEFAULT_COUNT, DEFAULT_MINUTES = 5, 15
COUNT_RANGE, MINUTES_RANGE = (2, 100), (1, 1440)  # as the table's CHECK constraints say
MIN_LOOKBACK = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class Threshold:
    """``count`` tickets of one category within ``minutes``; ``default``: the tenant has set none."""

    count: int = DEFAULT_COUNT
    minutes: int = DEFAULT_MINUTES
    default: bool = True

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.minutes)

    @property
    def lookback(self) -> timedelta:
        return max(2 * self.window, MIN_LOOKBACK)

    def to_dict(self) -> dict[str, Any]:
        return {"pileup_count": self.count, "pileup_minutes": self.minutes, "default": self.default}


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A category whose tickets piled up: how many, the first and the last one's time, which."""

    category: str
    category_label: str
    count: int
    first_at: datetime
    last_at: datetime
    ticket_ids: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "category_label": self.category_label,
            "count": self.count,
            "first_at": iso(self.first_at),
            "last_at": iso(self.last_at),
            "ticket_ids": list(self.ticket_ids),
        }


def covered(path: str, open_categories: Iterable[str]) -> bool:
    """Whether an open incident's category is ``path`` or one above it."""
    return any(path == c or path.startswith(c + "/") for c in open_categories)


def pile_ups(
    reports: Iterable[tuple[int, str, datetime]], threshold: Threshold, open_categories: Sequence[str] = ()
) -> list[tuple[str, list[tuple[int, datetime]]]]:
    """(category, its tickets oldest first) of each category whose ``(ticket id, category, created)`` reports hold
    ``threshold.count`` within ``threshold.minutes`` and that no open incident covers; busiest first."""
    by_category: dict[str, list[tuple[int, datetime]]] = {}
    for ticket_id, path, created in reports:
        by_category.setdefault(path, []).append((ticket_id, created))
    found = []
    for path, found_tickets in by_category.items():
        if covered(path, open_categories):
            continue
        found_tickets.sort(key=lambda t: (t[1], t[0]))
        times = [created for _, created in found_tickets]
        n = threshold.count
        if any(times[i + n - 1] - times[i] <= threshold.window for i in range(len(times) - n + 1)):
            found.append((path, found_tickets))
    return sorted(found, key=lambda f: (-len(f[1]), f[0]))


async def threshold_of(conn: AsyncConnection, tenant: str) -> Threshold:
    """The tenant's threshold (the default when it has set none)."""
    stmt = select(settings_table.c.pileup_count, settings_table.c.pileup_minutes).where(
        settings_table.c.tenant == tenant
    )
    row = (await conn.execute(stmt)).first()
    return Threshold() if row is None else Threshold(int(row.pileup_count), int(row.pileup_minutes), default=False)


def _check(value: object, field: str, bounds: tuple[int, int]) -> int:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        between = Msg("%(field)s must be between %(low)s and %(high)s", field=Label("field", field), low=low, high=high)
        raise InvalidInput(between, {"field": field})
    return value


async def set_threshold(
    db: Database, tenant: str, *, count: int, minutes: int, account: Any, at: datetime
) -> Threshold:
    """Store the tenant's threshold (``account``: who, as a column value; NULL when unknown)."""
    values = {
        "tenant": tenant,
        "pileup_count": _check(count, "pileup_count", COUNT_RANGE),
        "pileup_minutes": _check(minutes, "pileup_minutes", MINUTES_RANGE),
        "updated_at": at,
        "updated_by": account,
    }
    async with db.engine.begin() as conn:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(settings_table).values(values)
        changed = {k: stmt.excluded[k] for k in ("pileup_count", "pileup_minutes", "updated_at", "updated_by")}
        await conn.execute(stmt.on_conflict_do_update(index_elements=[settings_table.c.tenant], set_=changed))
    return Threshold(count, minutes, default=False)


async def suggestions(conn: AsyncConnection, tenant: str, now: datetime) -> tuple[Threshold, list[Suggestion]]:
    """The tenant's threshold and its pile-ups now (module docstring)."""
    threshold = await threshold_of(conn, tenant)
    reported = await conn.execute(
        select(tickets.c.id, categories.c.path, tickets.c.created_at)
        .select_from(tickets.join(categories, categories.c.id == tickets.c.category_id))
        .where(
            tickets.c.tenant == tenant,
            tickets.c.created_at >= now - threshold.lookback,
            ~exists().where(links.c.ticket_id == tickets.c.id),
            ~exists().where(incidents.c.parent_ticket_id == tickets.c.id),
        )
    )
    open_now = await conn.execute(
        select(incidents.c.category).where(
            incidents.c.tenant == tenant,
            incidents.c.status == IncidentStatus.OPEN.value,
            incidents.c.category.is_not(None),
        )
    )
    found = pile_ups(((int(r.id), r.path, r.created_at) for r in reported), threshold, list(open_now.scalars()))
    labels = await category_labels(conn, tenant, (path for path, _ in found))
    return threshold, [
        Suggestion(path, labels.get(path, path), len(rows), rows[0][1], rows[-1][1], tuple(i for i, _ in rows))
        for path, rows in found
    ]
