"""SLA data for the known month of ``month.py``: timers and escalations as the scanner leaves them, written as
rows (the SLA's own tests drive the scanner; the report's read what it stored)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select

from tests.metrics.conftest import TENANT_A, TENANT_B
from tests.metrics.month import berlin, store_month
from uhd_telephony.sla.models import escalations, sla_timers
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.categories import categories
from uhd_telephony.tickets.view import tickets


@dataclass(frozen=True)
class Fired:
    """One escalation of the ticket created at ``created`` (of ``tenant``), ``after`` its creation."""

    created: datetime
    kind: str
    target: str
    after: timedelta
    category: str | None = None  # the ticket's category path when it fired
    taken_back: bool = False
    tenant: str = TENANT_A


T1 = berlin(1, 11, 0, 0, 0.5)  # kis/login, priority 3
T2 = berlin(30, 11, 23, 59, 59)  # pacs, priority 2
T4 = berlin(10, 11, 11, 0)  # hardware/printer
T5 = berlin(11, 11, 15, 0)  # not classified
OCTOBER = berlin(31, 10, 23, 59, 59)  # not of the month
T6 = berlin(12, 11, 9, 0)  # kis, priority 1
B1 = berlin(12, 11, 9, 0)  # TENANT_B's ticket

# T1: both kinds of both targets (the response warning after 45 min: the first escalation); T2 a response warning
# a microsecond short of a whole second, taken back; T4 a resolution breach alone (after an outage), in the
# category it had then; T5 unclassified; the October ticket and TENANT_B's count for neither the month nor A
FIRED = (
    Fired(T1, "warning", "response", timedelta(minutes=45), "kis/login"),
    Fired(T1, "breach", "response", timedelta(hours=1), "kis/login"),
    Fired(T1, "warning", "resolution", timedelta(hours=6), "kis"),
    Fired(T1, "breach", "resolution", timedelta(hours=8, microseconds=1), "kis", taken_back=True),
    Fired(T2, "warning", "response", timedelta(minutes=22, seconds=29, microseconds=999_999), "pacs", taken_back=True),
    Fired(T4, "breach", "resolution", timedelta(days=2, hours=3), "hardware/printer"),
    Fired(T5, "warning", "resolution", timedelta(hours=12)),
    Fired(OCTOBER, "breach", "response", timedelta(hours=2), "kis"),
    Fired(B1, "breach", "response", timedelta(hours=1), "kis", tenant=TENANT_B),
)
# the tickets measured by an SLA (a timer row): all of A's but T6 (its tenant had no SLA yet), and B's
TIMED = ((TENANT_A, T1), (TENANT_A, T2), (TENANT_A, T4), (TENANT_A, T5), (TENANT_A, OCTOBER), (TENANT_B, B1))


async def store_sla_month(db: Database) -> None:
    """``store_month`` and then the month's SLA timers and escalations."""
    await store_month(db)
    async with db.engine.begin() as conn:
        ids = {
            (row.tenant, row.created_at): row.id
            for row in await conn.execute(select(tickets.c.id, tickets.c.tenant, tickets.c.created_at))
        }
        paths = {
            (row.tenant, row.path): row.id
            for row in await conn.execute(select(categories.c.id, categories.c.tenant, categories.c.path))
        }
        for tenant, created in TIMED:
            await conn.execute(
                insert(sla_timers).values(
                    ticket_id=ids[tenant, created], tenant=tenant, next_due_at=None, computed_at=created
                )
            )
        for n, f in enumerate(FIRED):
            at = created_at = f.created + f.after
            await conn.execute(
                insert(escalations).values(
                    ticket_id=ids[f.tenant, f.created],
                    tenant=f.tenant,
                    kind=f.kind,
                    target=f.target,
                    level=1 if f.kind == "warning" else 2,
                    due_at=at - timedelta(seconds=n),
                    fired_at=at,
                    category_id=paths.get((f.tenant, f.category)) if f.category else None,
                    priority=3,
                    notified=[{"name": "Teamleitung", "channels": ["mail"]}],
                    acknowledged_by="agent:2" if f.taken_back else None,
                    acknowledged_at=created_at + timedelta(minutes=5) if f.taken_back else None,
                    de_escalated_by="agent:2" if f.taken_back else None,
                    de_escalated_at=created_at + timedelta(minutes=5) if f.taken_back else None,
                    reason="ticket resolved" if f.taken_back else None,
                )
            )
