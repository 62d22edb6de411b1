"""Routing fixtures: two seeded tenants (categories, directory, support groups pointing at the real receivers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests import dbfixtures
from tests.outbox import sinks
from tests.outbox.sinks import T0, Clock, SmtpSink, WebhookSink, new_secret, outbox_settings
from uhd_telephony.calls.records import CallRecord
from uhd_telephony.directory.importer import import_file
from uhd_telephony.directory.models import USERS
from uhd_telephony.outbox import OutboxWorker
from uhd_telephony.outbox.service import first_secret
from uhd_telephony.outbox.webhook import WebhookSender
from uhd_telephony.settings import Settings
from uhd_telephony.sla.policy import contact_secret
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.categories import DEFAULT_CATEGORIES, categories, import_categories
from uhd_telephony.tickets.groups import import_groups, webhook_secret
from uhd_telephony.tickets.service import TicketService

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
TENANT, OTHER = "klinikum-nord", "klinikum-sued"
MUELLER = "juergen.mueller@klinikum-nord.example"  # P-10001 in examples/users.example.csv
SECOND_LEVEL_MAIL = "2nd-level@klinik-it.example"
DEDALUS_MAIL = "support@dedalus.example"

# the shared database fixtures and the receivers, registered for this package
aiosqlite_threads_finish = dbfixtures.aiosqlite_threads_finish
db = dbfixtures.db
smtp = sinks.smtp
hooks = sinks.hooks
sender = sinks.sender


@dataclass
class World:
    """A seeded database with the receivers its groups send to, and the services a test drives."""

    db: Database
    url: str
    smtp: SmtpSink
    hooks: WebhookSink
    secret: str  # partner:dedalus's webhook key
    settings: Settings
    clock: Clock
    tickets: TicketService
    worker: OutboxWorker

    async def user_id(self, external_id: str = "P-10001", tenant: str = TENANT) -> int:
        stmt = select(USERS.c.id).where(USERS.c.tenant == tenant, USERS.c.external_id == external_id)
        async with self.db.engine.connect() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def category_id(self, path: str, tenant: str = TENANT) -> int:
        stmt = select(categories.c.id).where(categories.c.tenant == tenant, categories.c.path == path)
        async with self.db.engine.connect() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def phone_ticket(self, n: int = 1, *, tenant: str = TENANT, user: str | None = "P-10001") -> Any:
        """The ticket of answered call ``n`` (answered at T0 + n s) from a directory user, or an unknown caller."""
        requester = None
        if user is not None:
            stmt = select(USERS.c.id, USERS.c.name).where(USERS.c.tenant == tenant, USERS.c.external_id == user)
            async with self.db.engine.connect() as conn:
                found = (await conn.execute(stmt)).one()
            requester = {"user_id": found.id, "name": found.name}
        call = CallRecord(
            call_id=f"1772438400.{n}@hotline",
            linkedid=f"1772438400.{n}",
            uniqueid=f"1772438400.{n}",
            queue="hotline",
            tenant=tenant,
            entered_at=T0.timestamp() + n - 10,
            answered_at=T0.timestamp() + n,
            caller_number=f"+49231986{n:04d}",
            caller_name="MUELLER J",
            agent="Anna Becker",
        )
        ticket, created = await self.tickets.open_for_call(call, requester=requester, agent_id=3, agent_name="Anna")
        assert created
        return ticket

    async def deliver(self) -> int:
        """Send everything the outbox has due now."""
        sent = 0
        while handled := await self.worker.run_once():
            sent += handled
        return sent


async def seed(db: Database, hooks: WebhookSink, secret: str) -> None:
    for tenant in (TENANT, OTHER):
        await import_categories(db, tenant, DEFAULT_CATEGORIES)
        await import_file(db, EXAMPLES / "users.example.csv", tenant, progress=False)
    await import_groups(
        db,
        TENANT,
        [
            {"code": "1st_level", "name": "User Helpdesk"},
            {"code": "2nd_level", "name": "Klinik-IT 2nd Level", "mail": SECOND_LEVEL_MAIL},
            {"code": "3rd_level", "name": "Systembetreuung", "mail": ["3rd-level@klinik-it.example"]},
            {
                "code": "partner:dedalus",
                "name": "Dedalus (KIS)",
                "mail": [DEDALUS_MAIL],
                "webhook": {"url": hooks.url, "secret": secret},
            },
        ],
    )


@pytest.fixture
async def world(
    db: Database, db_url: str, smtp: SmtpSink, hooks: WebhookSink, sender: WebhookSender
) -> AsyncIterator[World]:
    secret = new_secret()
    await seed(db, hooks, secret)
    clock = Clock(T0)
    settings = outbox_settings(db_url, smtp)
    yield World(
        db=db,
        url=db_url,
        smtp=smtp,
        hooks=hooks,
        secret=secret,
        settings=settings,
        clock=clock,
        tickets=TicketService(db, now=clock),
        # signed as in the server: the support groups' secrets, then the SLA contacts' (app/plugins.py)
        worker=OutboxWorker(db, settings, webhooks=sender, secrets=first_secret(webhook_secret, contact_secret)),
    )
