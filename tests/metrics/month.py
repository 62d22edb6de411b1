"""A known month of calls and tickets for the KPI tests: stays, tickets, its calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, update

from tests.metrics.conftest import TENANT_A, TENANT_B, TicketSpec, store_calls, store_tickets
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.metrics import kpi
from uhd_telephony.sla.calendar import Calendar
from uhd_telephony.sla.models import sla_tenants
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.view import tickets

BERLIN = kpi.TIMEZONE


def berlin(day: int, month: int, hh: int, mm: int, ss: float = 0.0) -> datetime:
    year = 2026
    whole = int(ss)
    return datetime(year, month, day, hh, mm, whole, round((ss - whole) * 1e6), tzinfo=BERLIN)


def stay(
    n: int,
    at: datetime,
    outcome: Outcome | None,
    *,
    wait: float | None = None,
    talk: float | None = None,
    linkedid: str | None = None,
    queue: str = "hotline",
    tenant: str = TENANT_A,
) -> CallRecord:
    entered = at.timestamp()
    call = CallRecord(f"c{n}@{queue}", linkedid or f"l{n}", f"u{n}", queue, tenant, entered)
    call.outcome, call.wait_s, call.talk_s = outcome, wait, talk
    if outcome in (Outcome.ANSWERED, Outcome.TRANSFERRED):
        call.answered_at = entered + (wait or 0)
        call.agent = "Anna Becker"
    if outcome is not None:
        call.ended_at = entered + (wait or 0) + (talk or 0) + 1
    return call


def month_calls() -> list[CallRecord]:
    a, t = Outcome.ANSWERED, Outcome.TRANSFERRED
    return [
        stay(1, berlin(1, 11, 0, 0, 5), a, wait=5, talk=60),  # the month's first seconds: counts
        stay(2, berlin(31, 10, 23, 59, 59), a, wait=4, talk=10),  # October's last second: does not
        stay(3, berlin(30, 11, 23, 59, 50), a, wait=30, talk=40),  # ends on 1 December: November's
        stay(4, berlin(2, 11, 10, 0), a, wait=20.0, talk=100),  # exactly T: within the service level
        stay(5, berlin(2, 11, 10, 5), Outcome.ABANDONED, wait=45),
        stay(6, berlin(2, 11, 10, 6), Outcome.SHORT_ABANDON, wait=3),
        stay(7, berlin(2, 11, 10, 7), Outcome.TIMEOUT, wait=300),
        stay(8, berlin(2, 11, 10, 8), Outcome.OVERFLOW, wait=60),
        # a blind transfer: the same linkedid in the hotline and then in the 2nd-level queue
        stay(9, berlin(3, 11, 9, 0), t, wait=10, talk=120, linkedid="conv-9"),
        stay(10, berlin(3, 11, 9, 2, 10), a, wait=8, talk=300, linkedid="conv-9", queue="2nd-level"),
        stay(11, berlin(7, 11, 22, 0), Outcome.CLOSED),  # Saturday night: outside business hours
        stay(12, berlin(1, 12, 0, 0, 1), Outcome.CLOSED),  # December
        stay(13, berlin(4, 11, 12, 0), Outcome.REFUSED),
        stay(14, berlin(5, 11, 14, 0), None),  # still in progress: counts nowhere
        stay(15, berlin(12, 11, 8, 30), a, wait=12.5, talk=200),
        stay(16, berlin(12, 11, 8, 31), a, wait=1, talk=1, tenant=TENANT_B),  # another tenant
        # outside the calendar's business hours (MONTH_CALENDAR), though queued: apart, in no ratio
        stay(17, berlin(9, 11, 6, 29, 59.5), a, wait=4, talk=90),  # half a second before opening, answered
        stay(18, berlin(14, 11, 11, 0), a, wait=2, talk=30),  # Saturday: closed, and answered anyway
        stay(19, berlin(18, 11, 10, 0), Outcome.ABANDONED, wait=50),  # Buß- und Bettag, a holiday in Saxony
    ]


# the hotline of TENANT_A: weekdays from 06:30 to midnight, Sunday duty all day, Saturdays and Saxony's holidays
# closed (the month's edge calls above, Sunday 00:00:05 and Monday 23:59:50, are in business hours)
MONTH_CALENDAR = {
    "hours": {**{d: ["06:30-24:00"] for d in ("mon", "tue", "wed", "thu", "fri")}, "sun": ["00:00-24:00"]},
    "holidays": {"state": "SN"},
}


async def store_calendar(db: Database, tenant: str, config: dict[str, Any]) -> Calendar:
    """The tenant's business calendar as an SLA import stores it (no policies: no ticket gets an SLA clock)."""
    calendar = Calendar.from_config(config)
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(sla_tenants).values(
                tenant=tenant,
                calendar=calendar.to_config(),
                unclassified_priority=3,
                warning_level=1,
                breach_level=2,
                updated_at=datetime.now(UTC),
            )
        )
    return calendar


@dataclass(frozen=True)
class TicketCase:
    spec: TicketSpec
    status: str


def month_tickets() -> list[TicketCase]:
    t1 = berlin(1, 11, 0, 0, 0.5)
    t2 = berlin(30, 11, 23, 59, 59)
    t6 = berlin(12, 11, 9, 0)
    return [
        TicketCase(
            TicketSpec(TENANT_A, t1, "kis/login", 3, "phone", (("routed", "2nd_level", t1 + timedelta(seconds=600)),)),
            "in_progress",
        ),
        # escalated (SLA) but never routed away from 1st level, and resolved: a first-contact resolution
        TicketCase(
            TicketSpec(TENANT_A, t2, "pacs", 2, "web", (("escalated", None, t2 + timedelta(seconds=1800)),)), "resolved"
        ),
        TicketCase(TicketSpec(TENANT_A, berlin(31, 10, 23, 59, 59), "kis", 2, "phone"), "new"),  # October
        TicketCase(
            TicketSpec(
                TENANT_A,
                berlin(10, 11, 11, 0),
                "hardware/printer",
                4,
                "mail",
                (("routed", "1st_level", berlin(10, 11, 11, 1)),),
            ),
            "closed",
        ),
        TicketCase(TicketSpec(TENANT_A, berlin(11, 11, 15, 0), None, None, "phone"), "new"),
        # routed to 2nd level and back: solved, but not at first contact
        TicketCase(
            TicketSpec(
                TENANT_A,
                t6,
                "kis",
                1,
                "phone",
                (
                    ("routed", "2nd_level", t6 + timedelta(seconds=3600)),
                    ("routed", "1st_level", t6 + timedelta(hours=5)),
                ),
            ),
            "closed",
        ),
        TicketCase(TicketSpec(TENANT_B, berlin(12, 11, 9, 0), "kis", 1, "phone"), "closed"),
    ]


async def store_month(
    db: Database, also: list[TicketSpec] | None = None
) -> tuple[list[CallRecord], list[kpi.TicketFact]]:
    """The month's calls and tickets (and the tickets ``also``, status new) and TENANT_A's calendar; returns every
    stored call and the tickets' facts."""
    records = await store_calls(db, month_calls())
    cases = month_tickets()
    facts = await store_tickets(db, [*(c.spec for c in cases), *(also or [])])
    async with db.engine.begin() as conn:
        for case in cases:  # the ticket opened for each spec carries its creation time
            await conn.execute(
                update(tickets)
                .where(tickets.c.tenant == case.spec.tenant, tickets.c.created_at == case.spec.created_at)
                .values(status=case.status)
            )
    await store_calendar(db, TENANT_A, MONTH_CALENDAR)
    return records, facts
