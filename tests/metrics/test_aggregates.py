"""The report's SQL aggregates equal kpi.py over the same stored rows, on SQLite and PostgreSQL ("one definition")."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.metrics.conftest import TENANT_A, TENANT_B, rendered_records, store_calls
from tests.metrics.month import MONTH_CALENDAR, month_tickets, stay, store_month
from tests.metrics.ticket_specs import specs
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.metrics import aggregates, kpi, queries
from uhd_telephony.simulator.render import DEFAULT_START
from uhd_telephony.sla.calendar import Calendar
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate

START = datetime.fromtimestamp(DEFAULT_START, kpi.TIMEZONE)  # Friday 15 January 2027, 09:00 in Berlin
# weekdays from 06:30 to 17:00 with a break that cuts through the simulated calls (and their transfers),
# Saxony's holidays (Buß- und Bettag, Wednesday 18 November 2026) and an extra closed day
CALENDAR = Calendar.from_config(
    {
        "hours": {
            **{d: ["06:30-17:00"] for d in ("mon", "tue", "wed", "thu")},
            "fri": ["06:30-09:20", "09:40-17:00"],
        },
        "holidays": {"state": "SN"},
        "closed": ["2026-11-27"],
    }
)


def b(day: int, hh: int, mm: int, ss: float = 0.0) -> datetime:
    whole = int(ss)
    return datetime(2026, 11, day, hh, mm, whole, round((ss - whole) * 1e6), tzinfo=kpi.TIMEZONE)


def boundary_calls() -> list[CallRecord]:
    """Stays at the calendar's edges, to the microsecond (TENANT_A, November 2026)."""
    a = Outcome.ANSWERED
    return [
        stay(101, b(2, 6, 29, 59.999999), a, wait=3, talk=30),  # a microsecond before opening
        stay(102, b(2, 6, 30), a, wait=7, talk=30),  # opening time: inside
        stay(103, b(2, 16, 59, 59.999999), Outcome.ABANDONED, wait=25),  # the last microsecond
        stay(104, b(2, 17, 0), a, wait=9, talk=30),  # closing time: outside
        stay(105, b(6, 9, 20), a, wait=11, talk=30),  # Friday's break
        stay(106, b(6, 9, 40), Outcome.SHORT_ABANDON, wait=1),  # ... and after it
        stay(107, b(7, 10, 0), a, wait=2, talk=30),  # Saturday
        stay(108, b(18, 10, 0), a, wait=4, talk=30),  # the holiday
        stay(109, b(27, 10, 0), Outcome.TIMEOUT, wait=300),  # the extra closed day
        stay(110, b(17, 16, 59), Outcome.TRANSFERRED, wait=5, talk=60, linkedid="late"),
        stay(111, b(17, 17, 0, 30), a, wait=5, talk=60, linkedid="late", queue="2nd-level"),  # after closing
        stay(112, b(19, 6, 29), Outcome.TRANSFERRED, wait=5, talk=60, linkedid="early"),
        stay(113, b(19, 6, 31), a, wait=5, talk=60, linkedid="early", queue="2nd-level"),  # a transfer in
        stay(114, b(10, 22, 0), Outcome.CLOSED),
    ]


@pytest.mark.slow
async def test_call_aggregates_equal_kpi_over_simulated_and_edge_calls(db_url: str) -> None:
    await migrate(db_url)
    db = Database(db_url)
    try:
        await store_calls(db, rendered_records(n_calls=600, seed=11))
        records, _ = await store_month(db)  # every stored call, as the store gives them back
        # the tenants' own calendars: TENANT_A has MONTH_CALENDAR in the database, TENANT_B none (24/7)
        calendars = {TENANT_A: Calendar.from_config(MONTH_CALENDAR), TENANT_B: None}
        periods = [
            (START - timedelta(days=1), START + timedelta(days=2)),  # all simulated calls
            (START + timedelta(minutes=20), START + timedelta(minutes=50)),  # cuts through transfers
            (datetime(2026, 11, 1, tzinfo=kpi.TIMEZONE), datetime(2026, 12, 1, tzinfo=kpi.TIMEZONE)),
            (datetime(2020, 1, 1, tzinfo=kpi.TIMEZONE), datetime(2020, 2, 1, tzinfo=kpi.TIMEZONE)),  # empty
        ]
        for tenant in (TENANT_A, TENANT_B):
            for start, end in periods:
                for t in (20.0, 7.5):
                    got = await aggregates.call_kpis(db, tenant, start, end, service_level_s=t)
                    streamed = await queries.call_kpis(db, tenant, start, end, service_level_s=t)
                    assert got == streamed, (tenant, start, end, t)
                    mine = [
                        r for r in records if r.tenant == tenant and start.timestamp() <= r.entered_at < end.timestamp()
                    ]
                    assert got == kpi.call_kpis(mine, service_level_s=t, calendar=calendars[tenant])
    finally:
        await db.close()
    whole = kpi.call_kpis([r for r in records if r.tenant == TENANT_A], calendar=calendars[TENANT_A])
    # the data exercises what the SQL must get right
    assert whole.transfers_in > 0 and whole.short_abandons > 0 and whole.timed_out > 0
    assert whole.reaction_time.count > 100 and whole.answered_outside_hours > 0 and whole.closed > 0


@pytest.mark.slow
async def test_business_hours_in_sql_equal_kpi_at_the_calendars_edges(db_url: str) -> None:
    """06:30 to the microsecond, a break, a weekend, a holiday, a closed day, transfers across closing time."""
    await migrate(db_url)
    db = Database(db_url)
    try:
        await store_calls(db, rendered_records(n_calls=600, seed=11))
        await store_calls(db, boundary_calls())
        records, _ = await store_month(db)
        periods = [
            (START - timedelta(days=1), START + timedelta(days=2)),  # the simulated calls, cut by Friday's break
            (START + timedelta(minutes=15), START + timedelta(minutes=45)),  # the period starts inside a break
            (datetime(2026, 11, 1, tzinfo=kpi.TIMEZONE), datetime(2026, 12, 1, tzinfo=kpi.TIMEZONE)),
            (b(2, 6, 29, 59.999999), b(2, 17, 0)),  # a period that begins and ends at the edges
            (b(7, 0, 0), b(9, 0, 0)),  # a weekend: no business spans at all
        ]
        seen = []
        for tenant in (TENANT_A, TENANT_B):
            for start, end in periods:
                for calendar in (CALENDAR, None):
                    got = await aggregates.call_kpis(db, tenant, start, end, calendar=calendar)
                    streamed = await queries.call_kpis(db, tenant, start, end, calendar=calendar)
                    assert got == streamed, (tenant, start, end, calendar)
                    mine = [
                        r for r in records if r.tenant == tenant and start.timestamp() <= r.entered_at < end.timestamp()
                    ]
                    assert got == kpi.call_kpis(mine, calendar=calendar)
                    seen.append(got)
        edges = await aggregates.call_kpis(db, TENANT_A, b(1, 0, 0), b(30, 0, 0), calendar=CALENDAR)
    finally:
        await db.close()
    # the edges: 102, 103, 106, 110, 113 offered (113 a transfer in from 112, which was queued outside hours);
    # 101, 104, 105, 107, 108, 109, 111, 112 queued outside hours (all but 109 answered), 114 closed
    whole = kpi.call_kpis(boundary_calls(), calendar=CALENDAR)
    assert (whole.offered, whole.outside_hours, whole.closed, whole.answered_outside_hours) == (5, 9, 1, 7)
    assert (whole.transfers_in, whole.reaction_time.count, whole.short_abandons, whole.abandoned) == (1, 3, 1, 1)
    assert edges.answered_outside_hours >= 7 and edges.transfers_in >= 1  # (with store_month's stays)
    assert any(k.outside_hours > k.closed and k.offered > 100 for k in seen)  # the break cuts the simulation


async def test_ticket_aggregates_equal_kpi_and_first_contact_resolution(db_url: str) -> None:
    await migrate(db_url)
    db = Database(db_url)
    try:
        _, facts = await store_month(db, also=specs())
        statuses = {(c.spec.tenant, c.spec.created_at): c.status for c in month_tickets()}
        periods = [
            (datetime(2026, 3, 1, tzinfo=kpi.TIMEZONE), datetime(2026, 4, 1, tzinfo=kpi.TIMEZONE)),
            (datetime(2026, 11, 1, tzinfo=kpi.TIMEZONE), datetime(2026, 12, 1, tzinfo=kpi.TIMEZONE)),
        ]
        for tenant in (TENANT_A, TENANT_B):
            for start, end in periods:
                got = await aggregates.ticket_kpis(db, tenant, start, end)
                assert got.kpis == kpi.ticket_kpis(await queries.ticket_facts(db, tenant, start, end))
                cohort = [f for f in facts if f.tenant == tenant and start <= f.created_at < end]
                assert got.kpis == kpi.ticket_kpis(cohort)
                want_fcr = kpi.first_contact_resolution(
                    (statuses.get((f.tenant, f.created_at), "new"), f.routed_at is not None) for f in cohort
                )
                assert got.first_contact == want_fcr
    finally:
        await db.close()


async def test_a_long_period_of_many_business_spans(sqlite_url: str) -> None:
    """400 days of two intervals a weekday: SQLite's OR'd ranges stay within its expression depth."""
    lunch = {"hours": {d: ["06:30-12:00", "12:30-17:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat")}}
    calendar = Calendar.from_config(lunch)
    await migrate(sqlite_url)
    db = Database(sqlite_url)
    try:
        records, _ = await store_month(db)
        start, end = datetime(2026, 1, 1, tzinfo=kpi.TIMEZONE), datetime(2027, 2, 1, tzinfo=kpi.TIMEZONE)
        spans = kpi.business_spans(calendar, start, end)
        assert spans is not None and len(spans) > 600
        got = await aggregates.call_kpis(db, TENANT_A, start, end, calendar=calendar)
        mine = [r for r in records if r.tenant == TENANT_A and start.timestamp() <= r.entered_at < end.timestamp()]
        assert got == kpi.call_kpis(mine, calendar=calendar) and got.offered > 0
    finally:
        await db.close()


def test_first_contact_resolution_definition() -> None:
    assert kpi.is_resolved_at_first_level("resolved", False) and kpi.is_resolved_at_first_level("closed", False)
    assert not kpi.is_resolved_at_first_level("closed", True)  # routed beyond 1st level once
    assert not kpi.is_resolved_at_first_level("in_progress", False)
    fcr = kpi.first_contact_resolution([("closed", False), ("new", False), ("resolved", True), ("resolved", False)])
    assert (fcr.created, fcr.resolved_at_first_level, fcr.rate) == (4, 2, 0.5)
    assert kpi.first_contact_resolution([]).rate is None
    counted = kpi.first_contact_resolution_counted({("closed", False): 3, ("closed", True): 2, ("new", False): 5})
    assert (counted.created, counted.resolved_at_first_level) == (10, 3)


async def test_callers_who_left_at_an_incident_announcement_count_alike_in_sql_and_kpi(db_url: str) -> None:
    """Issue 18: incident_subscribed / incident_left are never offered, in SQL as in kpi.py, with a calendar or not."""
    await migrate(db_url)
    db = Database(db_url)
    left, told, a = Outcome.INCIDENT_LEFT, Outcome.INCIDENT_SUBSCRIBED, Outcome.ANSWERED
    stays = [
        stay(201, b(2, 9, 0), left, wait=0),
        stay(202, b(2, 9, 1), told, wait=0),
        stay(203, b(2, 9, 2), a, wait=4, talk=30),
        stay(204, b(2, 9, 3), Outcome.ABANDONED, wait=30),
        stay(205, b(7, 10, 0), told, wait=0),  # Saturday: outside the calendar, still apart and not outside
        stay(206, b(2, 9, 4), a, wait=6, talk=30, linkedid="l201"),  # the same conversation as 201, queued later
    ]
    try:
        stored = await store_calls(db, stays)
        start, end = b(1, 0, 0), b(30, 0, 0)
        for calendar in (CALENDAR, None):
            got = await aggregates.call_kpis(db, TENANT_A, start, end, calendar=calendar)
            assert got == await queries.call_kpis(db, TENANT_A, start, end, calendar=calendar)
            assert got == kpi.call_kpis(stored, calendar=calendar)
            assert (got.offered, got.answered, got.left_at_announcement, got.subscribed_at_announcement) == (3, 2, 3, 2)
            assert (got.outside_hours, got.conversations, got.service_level) == (0, 3, 2 / 3)
    finally:
        await db.close()
