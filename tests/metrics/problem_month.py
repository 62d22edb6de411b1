"""Constructed months for the satisfaction and recurring-problems sections: tickets with the requester, category,
creation and resolution the test names, directory users and places, ratings as the rating page stores them."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.directory.models import DirectoryPlace, DirectoryUser
from uhd_telephony.feedback.models import ratings
from uhd_telephony.metrics import kpi
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.store.models import table_of
from uhd_telephony.tickets.categories import DEFAULT_CATEGORIES, categories, import_categories
from uhd_telephony.tickets.view import tickets

BERLIN = kpi.TIMEZONE
users, places = table_of(DirectoryUser), table_of(DirectoryPlace)
_numbers = itertools.count(1)


def at(day: int, month: int, hh: int = 12, mm: int = 0, ss: int = 0, year: int = 2026) -> datetime:
    """A Berlin wall-clock time."""
    return datetime(year, month, day, hh, mm, ss, tzinfo=BERLIN)


@dataclass
class Month:
    """One database's constructed tickets: category ids by (tenant, path), the tickets' numbers by id."""

    db: Database
    category: dict[tuple[str, str], int] = field(default_factory=dict)
    numbers: dict[int, str] = field(default_factory=dict)

    async def categories_of(self, *tenants: str) -> None:
        for tenant in tenants:
            await import_categories(self.db, tenant, DEFAULT_CATEGORIES)
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(select(categories.c.tenant, categories.c.path, categories.c.id))
            self.category = {(r.tenant, r.path): r.id for r in rows}

    async def ticket(
        self,
        tenant: str,
        created: datetime,
        path: str | None = None,
        *,
        user: int | None = None,
        place: int | None = None,
        number: str = "",
        resolved: datetime | None = None,
        status: str | None = None,
    ) -> int:
        """One ticket as the service stores it; resolved (status ``resolved``) when ``resolved`` is given."""
        n = next(_numbers)
        values: dict[str, Any] = {
            "number": f"UHD-2026-{n:06d}",
            "tenant": tenant,
            "status": status or ("resolved" if resolved else "new"),
            "channel": "phone",
            "subject": f"Ticket {n}",
            "description": "",
            "requester_user_id": user,
            "requester_place_id": place,
            "requester_number": number,
            "requester_name": "",
            "vip": False,
            "category_id": None if path is None else self.category[(tenant, path)],
            "created_at": created,
            "updated_at": resolved or created,
            "resolved_at": resolved,
        }
        async with self.db.engine.begin() as conn:
            ticket_id = (await conn.execute(insert(tickets).values(values).returning(tickets.c.id))).scalar_one()
        self.numbers[int(ticket_id)] = values["number"]
        return int(ticket_id)

    async def tickets(self, tenant: str, times: list[datetime], path: str | None, **who: Any) -> list[int]:
        return [await self.ticket(tenant, t, path, **who) for t in times]

    async def rating(
        self, ticket_id: int, tenant: str, score: int, given: datetime, path: str | None, comment: str | None = None
    ) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(
                insert(ratings).values(
                    ticket_id=ticket_id, tenant=tenant, score=score, category=path, created_at=given,
                    comment=comment, commented_at=given if comment else None,
                )
            )  # fmt: skip

    async def person(self, tenant: str, name: str, department: str | None, *, place: bool = False) -> int:
        table = places if place else users
        async with self.db.engine.begin() as conn:
            return await _insert_person(conn, table, tenant, name, department)


async def _insert_person(conn: AsyncConnection, table: Any, tenant: str, name: str, department: str | None) -> int:
    values = {"tenant": tenant, "external_id": f"X-{next(_numbers)}", "name": name, "department": department,
              "created_at": datetime.now(UTC), "updated_at": datetime.now(UTC)}  # fmt: skip
    return int((await conn.execute(insert(table).values(values).returning(table.c.id))).scalar_one())


@asynccontextmanager
async def constructed(url: str, *tenants: str) -> AsyncIterator[Month]:
    """A migrated database with the default category trees of ``tenants``, closed afterwards."""
    await migrate(url)
    db = Database(url)
    try:
        month = Month(db)
        await month.categories_of(*tenants)
        yield month
    finally:
        await db.close()
