"""SLA fixtures: a migrated database (SQLite and PostgreSQL) with two tenants' categories, one tenant's SLA,
a standing clock the tests move, the ticket services on that clock and an SLA scanner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tests import dbfixtures
from tests.outbox import sinks
from tests.outbox.sinks import Clock
from tests.support.sla_data import sla_data
from uhd_telephony.outbox.models import outbox
from uhd_telephony.sla.escalation import SlaScanner
from uhd_telephony.sla.models import escalations, sla_timers
from uhd_telephony.sla.policy import import_sla
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.categories import DEFAULT_CATEGORIES, categories, import_categories
from uhd_telephony.tickets.history import history
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.tickets.service import TicketService
from uhd_telephony.tickets.view import TicketView
from uhd_telephony.tickets.workflow import TicketWorkflow

# the shared database fixtures and the receivers, registered for this package
aiosqlite_threads_finish = dbfixtures.aiosqlite_threads_finish
db = dbfixtures.db
smtp = sinks.smtp
hooks = sinks.hooks
sender = sinks.sender

BERLIN = ZoneInfo("Europe/Berlin")
TENANT, OTHER = "klinikum-nord", "klinikum-sued"
AGENT = "agent:3"  # a staff account: its first write is the first response
API = "api:test"  # not staff: changes that are no response


def berlin(*args: int) -> datetime:
    """A local time of the helpdesk: ``berlin(2026, 3, 2, 9, 0)`` is Monday 09:00 in Berlin."""
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


# Monday 2 March 2026, 09:00 in Berlin (08:00 UTC)
MONDAY_9 = berlin(2026, 3, 2, 9, 0)


@dataclass
class World:
    """A database with one tenant's SLA, a standing clock, the ticket services on it and a scanner."""

    db: Database
    url: str
    clock: Clock
    tickets: TicketService
    workflow: TicketWorkflow
    scanner: SlaScanner

    def at(self, moment: datetime) -> None:
        self.clock.now = moment

    async def ticket(self, *, tenant: str = TENANT, subject: str = "Drucker druckt nicht") -> TicketView:
        """A web ticket from a requester without a mail address (no caller mail in the outbox), not responded."""
        return await self.workflow.service.create(
            tenant, channel="web", subject=subject, requester=Requester(name="Jürgen Müller"), actor=API
        )

    async def move(self, ticket_id: int, status: str, note: str | None = None, *, actor: str = API) -> None:
        await self.workflow.transition(TENANT, ticket_id, status, note=note, actor=actor)

    async def respond(self, ticket_id: int, *, tenant: str = TENANT) -> None:
        """An agent answers the requester, then the ticket goes to in_progress (a status change: the timer is
        recomputed with the response; the write that records a first response reschedules before it is set)."""
        await self.workflow.comment(tenant, ticket_id, text="Wir kümmern uns.", public=True, actor=AGENT)
        await self.workflow.transition(tenant, ticket_id, "in_progress", note=None, actor=API)

    async def scan(self, moment: datetime) -> int:
        self.at(moment)
        return await self.scanner.scan_once()

    async def due(self, ticket_id: int) -> datetime | None:
        stmt = select(sla_timers.c.next_due_at).where(sla_timers.c.ticket_id == ticket_id)
        async with self.db.engine.connect() as conn:
            found: datetime | None = (await conn.execute(stmt)).scalar()
        return found

    async def escalations(self, ticket_id: int | None = None) -> list[dict[str, Any]]:
        stmt = select(escalations).order_by(escalations.c.id)
        if ticket_id is not None:
            stmt = stmt.where(escalations.c.ticket_id == ticket_id)
        async with self.db.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(stmt)).mappings()]

    async def fired(self, ticket_id: int) -> list[tuple[str, str]]:
        return [(e["target"], e["kind"]) for e in await self.escalations(ticket_id)]

    async def outbox(self) -> list[dict[str, Any]]:
        async with self.db.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(select(outbox).order_by(outbox.c.id))).mappings()]

    async def outbox_count(self) -> int:
        async with self.db.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())

    async def history(self, ticket_id: int, *actions: str) -> list[dict[str, Any]]:
        stmt = select(history).where(history.c.ticket_id == ticket_id).order_by(history.c.id)
        if actions:
            stmt = stmt.where(history.c.action.in_(actions))
        async with self.db.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(stmt)).mappings()]

    async def category_id(self, path: str, tenant: str = TENANT) -> int:
        stmt = select(categories.c.id).where(categories.c.tenant == tenant, categories.c.path == path)
        async with self.db.engine.connect() as conn:
            return int((await conn.execute(stmt)).scalar_one())


@pytest.fixture
async def world(db: Database, db_url: str) -> AsyncIterator[World]:
    for tenant in (TENANT, OTHER):
        await import_categories(db, tenant, DEFAULT_CATEGORIES)
    await import_sla(db, TENANT, sla_data(), now=MONDAY_9 - timedelta(days=30))
    clock = Clock(MONDAY_9)
    tickets = TicketService(db, now=clock)
    yield World(db, db_url, clock, tickets, TicketWorkflow(tickets), SlaScanner(db, clock=clock))
