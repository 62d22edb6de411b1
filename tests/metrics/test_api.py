"""GET /api/tenants/{tenant}/kpis: kpi.py over the stored calls and tickets, per tenant, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.metrics.conftest import TENANT_A, TENANT_B, TicketSpec, rendered_records, store_calls, store_tickets
from tests.metrics.month import store_calendar
from tests.support.webapp import login, seed, web_settings
from uhd_telephony.app.web import init_app
from uhd_telephony.calls.records import CallRecord
from uhd_telephony.metrics import kpi
from uhd_telephony.metrics.api import KpiResponse
from uhd_telephony.simulator.render import DEFAULT_START
from uhd_telephony.store.db import Database

DAY = datetime.fromtimestamp(DEFAULT_START, kpi.TIMEZONE).date()  # the simulated calls' day in Berlin
NOON = datetime.combine(DAY, datetime.min.time(), kpi.TIMEZONE) + timedelta(hours=12)


@pytest.fixture
async def stored(db_url: str, aiohttp_client: Any) -> AsyncIterator[tuple[TestClient, list[CallRecord], list[Any]]]:
    await seed(db_url)  # agents anna and ben (klinikum-nord), carl (klinikum-sued)
    db = Database(db_url)
    try:
        records = await store_calls(db, rendered_records())
        facts = await store_tickets(
            db,
            [
                TicketSpec(
                    TENANT_A, NOON, "kis/login", 3, "phone", (("routed", "2nd_level", NOON + timedelta(minutes=12)),)
                ),
                TicketSpec(TENANT_A, NOON + timedelta(hours=1), "pacs", 2, "web"),
                TicketSpec(TENANT_A, NOON - timedelta(days=2), "kis", 2, "phone"),  # before the period
                TicketSpec(TENANT_B, NOON, "kis", 1, "phone", (("escalated", None, NOON + timedelta(hours=2)),)),
            ],
        )
    finally:
        await db.close()
    client = await aiohttp_client(init_app(web_settings(db_url)))
    yield client, records, facts


async def kpis(client: TestClient, tenant: str, **query: str) -> dict[str, Any]:
    response = await client.get(f"/api/tenants/{tenant}/kpis", params=query)
    assert response.status == 200, await response.text()
    return dict(await response.json())


def in_period(records: list[CallRecord], tenant: str, start: datetime, end: datetime) -> list[CallRecord]:
    return [r for r in records if r.tenant == tenant and start.timestamp() <= r.entered_at < end.timestamp()]


async def test_the_api_equals_kpi_on_the_same_stored_calls(
    stored: tuple[TestClient, list[CallRecord], list[kpi.TicketFact]],
) -> None:
    client, records, facts = stored
    await login(client, "anna")
    body = await kpis(client, TENANT_A, **{"from": DAY.isoformat(), "to": DAY.isoformat()})
    start = datetime.combine(DAY, datetime.min.time(), kpi.TIMEZONE)
    end = start + timedelta(days=1)
    assert (body["tenant"], body["from"], body["to"]) == (TENANT_A, start.isoformat(), end.isoformat())
    mine = in_period(records, TENANT_A, start, end)
    assert len(mine) > 100 and len(mine) < len(records)  # the other tenant's calls are not in it
    assert body["calls"] == kpi.call_kpis(mine).to_dict()
    KpiResponse.model_validate(body)  # what the OpenAPI document says it answers
    calls = body["calls"]
    assert calls["transfers_in"] > 0 and calls["short_abandons"] > 0 and calls["abandoned"] > 0
    assert 0 < calls["reachability"] < 1 and calls["base"] == calls["offered"] - calls["short_abandons"]
    tickets_in_period = [f for f in facts if f.tenant == TENANT_A and start <= f.created_at < end]
    assert body["tickets"] == kpi.ticket_kpis(tickets_in_period).to_dict()
    assert body["tickets"]["created"] == 2 and body["tickets"]["escalation_time_s"]["p90"] == 720.0


async def test_options_hours_queue_service_level_and_transfers(
    stored: tuple[TestClient, list[CallRecord], list[kpi.TicketFact]],
) -> None:
    client, records, _ = stored
    await login(client, "anna")
    start = datetime.fromtimestamp(DEFAULT_START, kpi.TIMEZONE)
    end = start + timedelta(hours=1)
    query = {"from": start.isoformat(), "to": end.isoformat()}
    body = await kpis(client, TENANT_A, **query, queue="hotline", service_level_s="30", exclude_transfers_in="true")
    hotline = [r for r in in_period(records, TENANT_A, start, end) if r.queue == "hotline"]
    assert body["calls"] == kpi.call_kpis(hotline, service_level_s=30, exclude_transfers_in=True).to_dict()
    assert body["queue"] == "hotline" and body["calls"]["service_level_s"] == 30
    # a datetime without an offset is Berlin time
    naive = {"from": start.replace(tzinfo=None).isoformat(), "to": end.replace(tzinfo=None).isoformat()}
    assert (await kpis(client, TENANT_A, **naive))["calls"] == kpis_of(records, start, end)


async def test_the_api_counts_by_the_tenants_business_calendar(
    stored: tuple[TestClient, list[CallRecord], list[kpi.TicketFact]], db_url: str
) -> None:
    client, records, _ = stored
    # the simulated calls (Friday from 09:00) are cut by a break; klinikum-sued keeps no calendar (24/7)
    config = {"hours": {d: ["06:30-09:20", "09:40-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}}
    db = Database(db_url)
    try:
        calendar = await store_calendar(db, TENANT_A, config)
    finally:
        await db.close()
    await login(client, "anna")
    start = datetime.combine(DAY, datetime.min.time(), kpi.TIMEZONE)
    end = start + timedelta(days=1)
    body = await kpis(client, TENANT_A, **{"from": DAY.isoformat(), "to": DAY.isoformat()})
    mine = in_period(records, TENANT_A, start, end)
    assert body["calls"] == kpi.call_kpis(mine, calendar=calendar).to_dict()
    assert body["business_hours"] == calendar.to_config()
    calls = body["calls"]
    assert (
        calls["queued_outside_hours"] > 0 and calls["outside_hours"] == calls["closed"] + calls["queued_outside_hours"]
    )
    assert calls["offered"] + calls["queued_outside_hours"] == kpi.call_kpis(mine).offered
    KpiResponse.model_validate(body)
    query = {"from": DAY.isoformat(), "to": DAY.isoformat(), "queue": "hotline", "exclude_transfers_in": "true"}
    hotline = [r for r in mine if r.queue == "hotline"]
    want = kpi.call_kpis(hotline, calendar=calendar, exclude_transfers_in=True).to_dict()
    assert (await kpis(client, TENANT_A, **query))["calls"] == want
    await login(client, "carl")
    other = await kpis(client, TENANT_B, **{"from": DAY.isoformat(), "to": DAY.isoformat()})
    assert other["business_hours"] is None and other["calls"]["outside_hours"] == other["calls"]["closed"]


def kpis_of(records: list[CallRecord], start: datetime, end: datetime) -> dict[str, Any]:
    return kpi.call_kpis(in_period(records, TENANT_A, start, end)).to_dict()


async def test_an_empty_period_has_null_ratios(stored: tuple[TestClient, list[CallRecord], list[Any]]) -> None:
    client, _, _ = stored
    await login(client, "anna")
    body = await kpis(client, TENANT_A, **{"from": "2020-01-01", "to": "2020-01-31"})
    assert body["calls"]["offered"] == 0 and body["calls"]["reachability"] is None
    assert body["tickets"]["created"] == 0 and body["tickets"]["escalation_time_s"]["mean"] is None


async def test_another_tenant_is_not_found_and_a_login_is_needed(
    stored: tuple[TestClient, list[CallRecord], list[Any]],
) -> None:
    client, _, _ = stored
    period = {"from": DAY.isoformat(), "to": DAY.isoformat()}
    response = await client.get(f"/api/tenants/{TENANT_A}/kpis", params=period)
    assert response.status == 401
    await login(client, "carl")  # works for klinikum-sued only
    response = await client.get(f"/api/tenants/{TENANT_A}/kpis", params=period)
    assert response.status == 404 and (await response.json())["error_id"] == "not-found"
    response = await client.get("/api/tenants/no-such-tenant/kpis", params=period)
    assert response.status == 404
    assert (await kpis(client, TENANT_B, **period))["tenant"] == TENANT_B


BAD_QUERIES = [
    {},
    {"from": "2027-01-15"},
    {"from": "yesterday", "to": "2027-01-15"},
    {"from": "2027-01-16", "to": "2027-01-15"},
    {"from": "2020-01-01", "to": "2027-01-15"},  # longer than 400 days
    {"from": "2027-01-15", "to": "2027-01-15", "service_level_s": "0"},
    {"from": "2027-01-15", "to": "2027-01-15", "service_level_s": "nan"},
    {"from": "2027-01-15", "to": "2027-01-15", "exclude_transfers_in": "maybe"},
    {"from": "2027-01-15", "to": "2027-01-15", "queue": "hot\x00line"},
    {"from": "2027-01-15", "to": "2027-01-15", "caller": "+4930123"},
]


async def test_bad_queries_are_400(sqlite_url: str, aiohttp_client: Any) -> None:
    await seed(sqlite_url)
    client = await aiohttp_client(init_app(web_settings(sqlite_url)))
    await login(client, "anna")
    for query in BAD_QUERIES:
        response = await client.get(f"/api/tenants/{TENANT_A}/kpis", params=query)
        assert response.status == 400, (query, await response.text())
        assert (await response.json())["error_id"] in ("invalid-input", "invalid-request")
    response = await client.get(f"/api/tenants/{TENANT_A}/kpis?from=2027-01-15&to=2027-01-15&to=2027-01-16")
    assert response.status == 400  # a parameter given twice


async def test_callers_waiting_now_come_from_the_live_tracker_per_tenant(db_url: str, aiohttp_client: Any) -> None:
    from uhd_telephony.calls.tracker import CallTracker
    from uhd_telephony.metrics.service import MetricsService

    await seed(db_url)
    tracker = CallTracker()
    wall = [NOON.timestamp()]
    service = MetricsService(tracker=tracker, clock=lambda: wall[0])

    def waiting(n: int, tenant: str, waited_s: float, **extra: Any) -> CallRecord:
        return CallRecord(
            call_id=f"{n}.1@hotline", linkedid=f"{n}.1", uniqueid=f"{n}.1", queue="hotline", tenant=tenant,
            entered_at=wall[0] - waited_s, **extra,
        )  # fmt: skip

    tracker.restore(
        [
            waiting(1, TENANT_A, 42.0),
            waiting(2, TENANT_A, 7.0),
            waiting(3, TENANT_A, 300.0, answered_at=wall[0] - 100, wait_s=200.0),  # talking: not waiting
            waiting(4, TENANT_B, 99.0),  # the other tenant's caller
        ]
    )
    client = await aiohttp_client(init_app(web_settings(db_url), metrics=service))
    await login(client, "anna")
    today = {"from": DAY.isoformat(), "to": DAY.isoformat()}
    body = await kpis(client, TENANT_A, **today)
    KpiResponse.model_validate(body)
    assert body["now"] == {"waiting": 2, "longest_wait_s": 42.0}
    # without live call tracking in the process (a web-only process): null, not a made-up 0
    plain = await aiohttp_client(init_app(web_settings(db_url)))
    await login(plain, "anna")
    assert (await kpis(plain, TENANT_A, **today))["now"] is None
