"""The mail-in endpoint on a real socket over a seeded database (SQLite, then PostgreSQL): tenants A and B with
their directories (examples/users.example.csv) and one helpdesk address each."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select, text

from tests import dbfixtures
from tests.mailin.sessions import HOST, NORD, SUED
from tests.support.tenants import add_tenants
from tests.support.webapp import TENANT_A, TENANT_B, Seeded, seed
from uhd_telephony.mailin.addresses import MailAddresses
from uhd_telephony.mailin.intake import MailIntake
from uhd_telephony.mailin.models import MailAttachment, MailMessage
from uhd_telephony.mailin.parts import Limits
from uhd_telephony.mailin.server import MailHandler, MailListener
from uhd_telephony.settings import Settings
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.models import Ticket, TicketHistory
from uhd_telephony.tickets.service import TicketService

aiosqlite_threads_finish = dbfixtures.aiosqlite_threads_finish

SENT_FROM = "IT-Helpdesk <helpdesk@uhd.example>"
ATTACHMENT_MAX = 64 * 1024
ATTACHMENTS_MAX = 100 * 1024
MESSAGE_MAX = 512 * 1024
CLIENTS = Settings.model_fields["mail_in_clients"].default  # loopback: the service's default


@dataclass
class Desk:
    """The endpoint as a mail server sees it, and the store behind it."""

    url: str
    db: Database
    tickets: TicketService
    listener: MailListener

    @property
    def port(self) -> int:
        return self.listener.port

    @property
    def counts(self) -> Any:
        return self.listener.handler.counts

    async def rows(self) -> dict[str, int]:
        """Rows of the tables one mail writes."""
        out = {}
        async with self.db.engine.connect() as conn:
            for name, model in (("tickets", Ticket), ("history", TicketHistory), ("mails", MailMessage),
                                ("attachments", MailAttachment)):  # fmt: skip
                out[name] = int((await conn.execute(select(func.count()).select_from(model))).scalar_one())
        return out

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        async with self.db.engine.begin() as conn:
            result = await conn.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []


async def make_world(url: str) -> Seeded:
    seeded = await seed(url)
    await add_tenants(url, TENANT_A, TENANT_B)
    async with Database(url) as db:
        addresses = MailAddresses(db)
        await addresses.add(NORD, TENANT_A)
        await addresses.add(SUED, TENANT_B)
    return seeded


@contextlib.asynccontextmanager
async def open_desk(url: str, *, protocol: str = "lmtp", **engine: Any) -> AsyncIterator[Desk]:
    """The endpoint on a free loopback port (the listener binds port 0 and says which it got)."""
    db = Database(url, **engine)
    tickets = TicketService(db)
    handler = MailHandler(
        MailIntake(tickets, sent_from=SENT_FROM),
        MailAddresses(db),
        limits=Limits(attachment=ATTACHMENT_MAX, total=ATTACHMENTS_MAX),
        clients=CLIENTS,
    )
    listener = MailListener(handler, host=HOST, port=0, protocol=protocol, max_bytes=MESSAGE_MAX)
    await listener.start()
    try:
        yield Desk(url, db, tickets, listener)
    finally:
        await listener.close()
        await db.close()


@pytest.fixture
async def world(db_url: str) -> Seeded:
    return await make_world(db_url)


@pytest.fixture
async def desk(world: Seeded) -> AsyncIterator[Desk]:
    async with open_desk(world.url) as running:
        yield running


@pytest.fixture
async def smtp_desk(world: Seeded) -> AsyncIterator[Desk]:
    async with open_desk(world.url, protocol="smtp") as running:
        yield running
