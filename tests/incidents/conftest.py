"""Major incident fixtures: the seeded world (two tenants, their agents, directory and category trees) on SQLite
and PostgreSQL, a standing clock, the ticket and incident services on it, and readers of what they wrote."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests import dbfixtures
from tests.outbox.sinks import Clock
from tests.support.webapp import TENANT_A, TENANT_B, Seeded, seed
from uhd_telephony.callbacks.models import Callback
from uhd_telephony.incidents import phone
from uhd_telephony.incidents.service import IncidentService
from uhd_telephony.incidents.view import incidents, links, subscriptions
from uhd_telephony.outbox.models import outbox
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of
from uhd_telephony.tickets.history import history
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.tickets.service import TicketService
from uhd_telephony.tickets.view import TicketView, categories, tickets

aiosqlite_threads_finish = dbfixtures.aiosqlite_threads_finish

# Monday 2 March 2026, 09:00 in Berlin
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
callbacks = table_of(Callback)


@dataclass
class World:
    """The seeded database with a standing clock and the services on it."""

    db: Database
    seeded: Seeded
    clock: Clock
    tickets: TicketService
    incidents: IncidentService

    @property
    def anna(self) -> str:
        """Agent of tenant A, as an actor."""
        return f"agent:{self.seeded.anna.id}"

    @property
    def carl(self) -> str:
        """Agent of tenant B only."""
        return f"agent:{self.seeded.carl.id}"

    def later(self, **delta: float) -> datetime:
        self.clock.now += timedelta(**delta)
        return self.clock.now

    async def ticket(
        self,
        *,
        tenant: str = TENANT_A,
        subject: str = "KIS startet nicht",
        name: str = "Paula Pflege",
        number: str = "",
        email: str | None = None,
        user_id: int | None = None,
        category: str | None = None,
    ) -> TicketView:
        """A web ticket typed in by an agent (classified when ``category`` names one)."""
        category_id = await self.category_id(category, tenant) if category else None
        who = Requester(name=name, number=number, email=email, user_id=user_id)
        actor = self.anna if tenant == TENANT_A else self.carl
        return await self.tickets.create(
            tenant, channel="web", subject=subject, requester=who, actor=actor, category_id=category_id,
            impact=3 if category_id else None, urgency=3 if category_id else None,
        )  # fmt: skip

    async def rows(self, stmt: Any) -> list[dict[str, Any]]:
        async with self.db.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(stmt)).mappings()]

    async def category_id(self, path: str, tenant: str = TENANT_A) -> int:
        found = await self.rows(select(categories.c.id).where(categories.c.tenant == tenant, categories.c.path == path))
        return int(found[0]["id"])

    async def outbox(self) -> list[dict[str, Any]]:
        return await self.rows(select(outbox).order_by(outbox.c.id))

    async def mails_about(self, incident_id: int) -> list[dict[str, Any]]:
        return [m for m in await self.outbox() if m["dedupe_key"].startswith(f"incident:{incident_id}:")]

    async def callbacks(self) -> list[dict[str, Any]]:
        return await self.rows(select(callbacks).order_by(callbacks.c.id))

    async def history(self, ticket_id: int, *actions: str) -> list[dict[str, Any]]:
        stmt = select(history).where(history.c.ticket_id == ticket_id).order_by(history.c.id)
        if actions:
            stmt = stmt.where(history.c.action.in_(actions))
        return await self.rows(stmt)

    async def ticket_row(self, ticket_id: int) -> dict[str, Any]:
        return (await self.rows(select(tickets).where(tickets.c.id == ticket_id)))[0]

    async def incident_row(self, incident_id: int) -> dict[str, Any]:
        return (await self.rows(select(incidents).where(incidents.c.id == incident_id)))[0]

    async def links(self, incident_id: int) -> list[dict[str, Any]]:
        return await self.rows(select(links).where(links.c.incident_id == incident_id).order_by(links.c.ticket_id))

    async def subscriptions(self, incident_id: int) -> list[dict[str, Any]]:
        stmt = select(subscriptions).where(subscriptions.c.incident_id == incident_id).order_by(subscriptions.c.id)
        return await self.rows(stmt)

    async def subscribe(
        self, incident_id: int, number: str, *, name: str | None = None, email: str | None = None
    ) -> list[int]:
        """A caller pressed the key during the announcement (the phone side's ``subscribe``)."""
        caller = phone.Subscriber(number=number, name=name, email=email, linkedid=f"call-{number}")
        return await phone.subscribe(self.db, TENANT_A, [incident_id], caller, self.clock.now)

    async def declare(self, **values: Any) -> Any:
        defaults: dict[str, Any] = {
            "title": "KIS ausgefallen",
            "caller_message": "Das KIS ist gestört. Wir arbeiten daran.",
            "actor": self.anna,
            "actor_name": "Anna Becker",
        }
        return await self.incidents.declare(values.pop("tenant", TENANT_A), **{**defaults, **values})


@pytest.fixture
async def world(db_url: str) -> AsyncIterator[World]:
    """The seeded world on SQLite, then on PostgreSQL; services on a clock standing at ``T0``."""
    seeded = await seed(db_url)
    db = Database(db_url)
    clock = Clock(T0)
    service = TicketService(db, now=clock)
    try:
        yield World(db, seeded, clock, service, IncidentService(service))
    finally:
        await db.close()


__all__ = ["T0", "TENANT_A", "TENANT_B", "World"]
