"""Rows of every data class written as the capabilities store them, at chosen instants, and read back."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from tests.support.tenants import add_tenants
from tests.support.webapp import TENANT_A, TENANT_B, seed
from uhd_telephony.audit.models import AuditEntry
from uhd_telephony.feedback.models import ratings
from uhd_telephony.incidents.models import MajorIncident
from uhd_telephony.mailin.models import attachments, messages
from uhd_telephony.outbox.models import outbox
from uhd_telephony.privacy.rules import callbacks, calls, subscriptions
from uhd_telephony.store.db import Database
from uhd_telephony.store.models import table_of
from uhd_telephony.tickets.models import TicketHistory
from uhd_telephony.tickets.view import tickets

NOW = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
history = table_of(TicketHistory)
audit = table_of(AuditEntry)
incidents = table_of(MajorIncident)
MUELLER = {"name": "Dr. Jürgen Müller", "number": "0231/98 60 572", "email": "juergen.mueller@klinikum-nord.example"}


def days_ago(days: float, delta: timedelta = timedelta(0)) -> datetime:
    return NOW - timedelta(days=days) + delta


class World:
    """Writes rows; every id counter shared, so rows of both tenants never collide."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._n = itertools.count(1)

    async def _insert(self, table: Any, **values: Any) -> int:
        async with self.db.engine.begin() as conn:
            result = await conn.execute(insert(table).values(**values).returning(table.c.id))
            return int(result.scalar_one())

    async def call(self, tenant: str, at: datetime, number: str = "+492214711", name: str = "Hans Anrufer",
                   channel: str = "PJSIP/4711-0000002a", **extra: Any) -> int:  # fmt: skip
        n = next(self._n)
        values = {"call_id": f"c{n}", "linkedid": f"l{n}", "uniqueid": f"u{n}", "tenant": tenant, "queue": "hotline",
                  "channel": channel, "caller_number": number, "caller_name": name, "entered_at": at,
                  "ended_at": at + timedelta(minutes=2), "answered_at": at + timedelta(seconds=20), "wait_s": 20.0,
                  "talk_s": 100.0, "outcome": "answered", "ring_attempts": [],
                  "variables": {"UHD_USER_ID": "7", "UHD_USER_NAME": name, "UHD_CATEGORY": "kis"}}  # fmt: skip
        return await self._insert(calls, **(values | extra))

    async def callback(self, tenant: str, at: datetime, status: str = "done", number: str = "+492214711",
                       user_id: int | None = None) -> int:  # fmt: skip
        n = next(self._n)
        return await self._insert(callbacks, tenant=tenant, call_id=f"cb{n}", linkedid=f"cbl{n}", caller_number=number,
                                  caller_name="Hans Anrufer", queue="hotline", abandoned_at=at, status=status,
                                  user_id=user_id, attempts=0, note="ruft zurück")  # fmt: skip

    async def ticket(self, tenant: str, at: datetime, *, status: str = "closed", name: str = "Hans Anrufer",
                     number: str = "+492214711", email: str | None = None, user_id: int | None = None,
                     place_id: int | None = None, subject: str | None = None) -> int:  # fmt: skip
        n = next(self._n)
        ticket_id = await self._insert(
            tickets, number=f"UHD-T-{n:06d}", tenant=tenant, status=status, channel="phone",
            subject=subject or f"Drucker von {name} streikt", description=f"{name} ruft von {number} an",
            requester_user_id=user_id, requester_place_id=place_id, requester_number=number, requester_name=name,
            requester_email=email, created_at=at, updated_at=at,
        )  # fmt: skip
        await self._insert(history, ticket_id=ticket_id, at=at, actor="system", action="created", field=None,
                           old_value=None, new_value=name, note=f"Rückruf an {number}")  # fmt: skip
        return ticket_id

    async def outbox(self, tenant: str, at: datetime, *, status: str = "sent", target: str = "hans@example.org",
                     ticket_id: int | None = None, body: Any = None) -> int:  # fmt: skip
        n = next(self._n)
        return await self._insert(outbox, tenant=tenant, channel="mail", target=target, subject="Ihr Ticket",
                                  body=body or {"text": "Guten Tag Hans Anrufer"}, dedupe_key=f"d{n}",
                                  ticket_id=ticket_id, status=status, attempts=0, next_attempt_at=at, created_at=at,
                                  sent_at=at if status == "sent" else None)  # fmt: skip

    async def audit(self, at: datetime) -> int:
        return await self._insert(audit, at=at, actor="anna", action="login_ok", details={})

    async def mail(self, tenant: str, at: datetime, ticket_id: int, sender: str = "hans@example.org") -> int:
        n = next(self._n)
        mail_id = await self._insert(messages, tenant=tenant, message_id=f"<m{n}@example.org>", ticket_id=ticket_id,
                                     kind="ticket", sender=sender, size=100, received_at=at)  # fmt: skip
        await self._insert(attachments, tenant=tenant, ticket_id=ticket_id, mail_id=mail_id, filename="scan.pdf",
                           content_type="application/pdf", size=3, data=b"pdf", created_at=at)  # fmt: skip
        return mail_id

    async def subscription(self, tenant: str, at: datetime, *, number: str = "+492214711",
                           notified: bool = True, email: str | None = "hans@example.org") -> int:  # fmt: skip
        incident = await self._insert(incidents, tenant=tenant, title="KIS gestört", caller_message="KIS gestört",
                                      status="resolved", known_at=at, declared_at=at, resolved_at=at)  # fmt: skip
        told = {"notified_at": at, "notified_via": "mail"} if notified else {}
        return await self._insert(subscriptions, incident_id=incident, tenant=tenant, number=number,
                                  name="Hans Anrufer", email=email, created_at=at, **told)  # fmt: skip

    async def rating(self, tenant: str, at: datetime, ticket_id: int, comment: str = "Hans war zufrieden") -> int:
        return await self._insert(ratings, ticket_id=ticket_id, tenant=tenant, score=4, comment=comment,
                                  category="kis", created_at=at, commented_at=at)  # fmt: skip

    async def row(self, table: Any, row_id: int) -> Any:
        async with self.db.engine.connect() as conn:
            return (await conn.execute(select(table).where(table.c.id == row_id))).one_or_none()

    async def count(self, table: Any, *where: Any) -> int:
        async with self.db.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())

    async def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table the rules touch: what "nothing written" compares."""
        out = {}
        async with self.db.engine.connect() as conn:
            for table in (calls, callbacks, tickets, history, outbox, audit, messages, attachments, subscriptions,
                          ratings):  # fmt: skip
                rows = await conn.execute(select(table).order_by(table.c.id))
                out[table.name] = [tuple(r) for r in rows]
        return out


@pytest.fixture
async def world(db_url: str) -> AsyncIterator[World]:
    """A seeded store (tenants A and B, each with the example directory) to write rows into, on both databases."""
    await seed(db_url)
    await add_tenants(db_url, TENANT_A, TENANT_B)
    db = Database(db_url)
    try:
        yield World(db)
    finally:
        await db.close()
