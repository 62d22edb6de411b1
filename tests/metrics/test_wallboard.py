"""The live KPIs people look at: ``GET /api/tenants/{tenant}/wallboard`` and the wallboard's read-only token.

Over a known day of simulated calls (SQLite and PostgreSQL): every hour's offered, answered, abandoned and service
level, and the service level through the day, are ``kpi.py``'s over the same stays; the queues now come from the
live state (callers waiting, agents ready, paused, on a call); per-agent figures only where the tenant allows
them; a ``wallboard:read`` token reads the wallboard and nothing else.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.metrics.conftest import TENANT_A, TENANT_B, rendered_records, store_calls
from tests.support.webapp import PASSWORD, login, seed, web_settings
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.ami.events import QueueMemberEvent
from uhd_telephony.app.web import init_app
from uhd_telephony.calls.records import CallRecord
from uhd_telephony.calls.tracker import CallTracker
from uhd_telephony.metrics import kpi
from uhd_telephony.metrics.service import MetricsService
from uhd_telephony.metrics.wallboard import WallboardResponse
from uhd_telephony.security.tokens import TokenService
from uhd_telephony.simulator.render import DEFAULT_START
from uhd_telephony.store.db import Database
from uhd_telephony.tenants.service import TenantService
from uhd_telephony.tenants.works_agreement import set_per_agent_figures

DAY = datetime.fromtimestamp(DEFAULT_START, kpi.TIMEZONE).date()  # the simulated calls' day in Berlin
MIDNIGHT = datetime.combine(DAY, datetime.min.time(), kpi.TIMEZONE)


@pytest.fixture
async def stored(db_url: str, aiohttp_client: Any) -> AsyncIterator[tuple[TestClient, list[CallRecord], str]]:
    await seed(db_url)  # agents anna and ben (klinikum-nord), carl (klinikum-sued)
    async with Database(db_url) as db:
        records = await store_calls(db, rendered_records())
    yield await aiohttp_client(init_app(web_settings(db_url))), records, db_url


async def wallboard(client: TestClient, tenant: str = TENANT_A, **query: str) -> dict[str, Any]:
    response = await client.get(f"/api/tenants/{tenant}/wallboard", params=query)
    assert response.status == 200, await response.text()
    body = dict(await response.json())
    WallboardResponse.model_validate(body)  # what the OpenAPI document says it answers
    return body


def entered(records: list[CallRecord], start: datetime, end: datetime) -> list[CallRecord]:
    return [r for r in records if r.tenant == TENANT_A and start.timestamp() <= r.entered_at < end.timestamp()]


async def test_the_day_hour_by_hour_is_kpi_over_the_same_stays(
    stored: tuple[TestClient, list[CallRecord], str],
) -> None:
    client, records, _ = stored
    await login(client, "anna")
    body = await wallboard(client, day=DAY.isoformat())
    day = entered(records, MIDNIGHT, MIDNIGHT + timedelta(days=1))
    assert len(day) > 100
    assert body["day"] == DAY.isoformat() and body["timezone"] == "Europe/Berlin"
    assert body["calls"] == kpi.call_kpis(day).to_dict()  # the day: exactly GET …/kpis for the day
    assert [h["hour"] for h in body["hours"]] == list(range(24))
    busy = 0
    for hour in body["hours"]:
        start = MIDNIGHT + timedelta(hours=hour["hour"])
        within = kpi.call_kpis(entered(records, start, start + timedelta(hours=1)))
        so_far = kpi.call_kpis(entered(records, MIDNIGHT, start + timedelta(hours=1)))
        assert (hour["offered"], hour["answered"], hour["abandoned"], hour["short_abandons"]) == (
            within.offered, within.answered, within.abandoned, within.short_abandons,
        ), hour  # fmt: skip
        assert hour["answered_within_service_level"] == within.answered_within_service_level
        assert hour["service_level"] == within.service_level
        assert hour["service_level_to_hour"] == pytest.approx(so_far.service_level)
        busy += bool(within.offered)
    assert busy >= 2  # the simulated day spans several hours
    assert body["hours"][-1]["service_level_to_hour"] == pytest.approx(body["calls"]["service_level"])
    assert sum(h["offered"] for h in body["hours"]) == body["calls"]["offered"]
    # the tenant is not in the tenants table, so nothing allows per-agent figures: team figures only
    assert body["per_agent_figures"] is False and body["agents"] is None
    text = json.dumps(body, ensure_ascii=False)
    assert not any(name in text for name in ("Anna Becker", "Clara Wolf", "PJSIP/"))
    # no calls that day: zeros and null ratios, not errors
    empty = await wallboard(client, day=(DAY - timedelta(days=3)).isoformat())
    assert empty["calls"]["offered"] == 0 and empty["hours"][10]["service_level"] is None
    assert (await client.get(f"/api/tenants/{TENANT_A}/wallboard?day=03.02.2026")).status == 400


async def test_per_agent_figures_only_where_the_tenant_allows_them(
    stored: tuple[TestClient, list[CallRecord], str],
) -> None:
    client, records, url = stored
    async with Database(url) as db:
        tenants = TenantService(db)
        await tenants.add(TENANT_A, name="Klinikum Nord")
        await login(client, "anna")
        off = await wallboard(client, day=DAY.isoformat())
        assert off["per_agent_figures"] is False and off["agents"] is None
        allowed = await set_per_agent_figures(db, TENANT_A, True, reference="BV 2026-03 IT-Helpdesk", actor="cli")
        assert allowed.per_agent_figures is True

        body = await wallboard(client, day=DAY.isoformat())
        assert body["per_agent_figures"] is True
        day = entered(records, MIDNIGHT, MIDNIGHT + timedelta(days=1))
        offered = [r for r in day if r.outcome is not None and not kpi.is_outside_hours(r.outcome, r.entered_at, None)]
        answered = Counter(r.agent for r in offered if kpi.is_answered(r.outcome))
        talks: dict[str, list[float]] = {}
        for r in offered:
            if kpi.is_answered(r.outcome) and r.talk_s is not None:
                talks.setdefault(str(r.agent), []).append(r.talk_s)
        rings = Counter(a.member_name for r in offered for a in r.ring_attempts if a.result == "noanswer")
        got = {a["agent"]: a for a in body["agents"]}
        assert {name: a["answered"] for name, a in got.items() if a["answered"]} == dict(answered)
        assert {name: a["rings_unanswered"] for name, a in got.items() if a["rings_unanswered"]} == dict(rings)
        for name, values in talks.items():
            assert got[name]["talk_mean_s"] == pytest.approx(kpi.mean(values))
        assert sum(a["answered"] for a in body["agents"]) == body["calls"]["answered"]  # the team's, agent by agent

        await set_per_agent_figures(db, TENANT_A, False, reference=None, actor="cli")  # the works agreement ends
        again = await wallboard(client, day=DAY.isoformat())
        assert again["agents"] is None and "Anna Becker" not in json.dumps(again, ensure_ascii=False)


def _member(kind: str, interface: str, *, queue: str = "nord-hotline", status: int = 1, paused: bool = False,
            in_call: bool = False) -> QueueMemberEvent:  # fmt: skip
    return QueueMemberEvent(1.0, kind, queue, interface, interface, status, paused, "", in_call, "dynamic")


async def test_the_queues_now_come_from_the_live_state(db_url: str, aiohttp_client: Any) -> None:
    await seed(db_url)
    async with Database(db_url) as db:
        # tenant A's hotline rings nord-hotline; its calls also use "backoffice"
        await TenantService(db).add(TENANT_A, name="Klinikum Nord", hotlines=[("+49 231 990001", "nord-hotline")])
    now = MIDNIGHT.timestamp() + 10 * 3600
    tracker = CallTracker()
    service = MetricsService(tracker=tracker, clock=lambda: now)

    def call(n: int, tenant: str, queue: str, waited_s: float, **extra: Any) -> CallRecord:
        return CallRecord(
            call_id=f"{n}.1@{queue}", linkedid=f"{n}.1", uniqueid=f"{n}.1", queue=queue, tenant=tenant,
            entered_at=now - waited_s, **extra,
        )  # fmt: skip

    tracker.restore(
        [
            call(1, TENANT_A, "nord-hotline", 42.0),
            call(2, TENANT_A, "backoffice", 7.0),
            # answered by PJSIP/104: on a call, whatever its device state says
            call(3, TENANT_A, "backoffice", 300.0, answered_at=now - 100, wait_s=200.0, agent_interface="PJSIP/104"),
            call(4, TENANT_B, "sued-hotline", 99.0),  # the other tenant's caller
        ]
    )
    members = service.members
    for interface in ("PJSIP/101", "PJSIP/102", "PJSIP/103", "PJSIP/105"):
        members.apply(_member("added", interface))
    members.apply(_member("added", "PJSIP/101", queue="backoffice"))  # in two of A's queues: counted once
    members.apply(_member("pause", "PJSIP/102", paused=True))
    members.apply(_member("status", "PJSIP/103", status=2, in_call=True))  # in use
    members.apply(_member("added", "PJSIP/104", queue="backoffice"))
    members.apply(_member("added", "PJSIP/105", status=5))  # its phone is not registered: not logged in
    members.apply(_member("added", "PJSIP/201", queue="sued-hotline"))  # tenant B's agent

    client = await aiohttp_client(init_app(web_settings(db_url), metrics=service))
    await login(client, "anna")
    body = await wallboard(client, day=DAY.isoformat())
    assert body["now"] == {
        "waiting": 2,
        "longest_wait_s": 42.0,
        "agents": {"logged_in": 4, "ready": 1, "paused": 1, "on_call": 2},
    }
    # without live call tracking in the process: null, not a made-up 0
    plain = await aiohttp_client(init_app(web_settings(db_url)))
    await login(plain, "anna")
    assert (await wallboard(plain, day=DAY.isoformat()))["now"] is None


async def test_a_wallboard_token_reads_the_wallboard_and_nothing_else(sqlite_url: str, aiohttp_client: Any) -> None:
    await seed(sqlite_url)
    async with Database(sqlite_url) as db:
        screen = await AccountService(db).create("screen", PASSWORD, role="manager", tenants=[TENANT_A])
        token = (await TokenService(db).create(screen.id, name="Wand Leitstand", scopes=["wallboard:read"])).secret
    client = await aiohttp_client(init_app(web_settings(sqlite_url)))
    bearer = {"Authorization": f"Bearer {token}"}

    page = await client.get("/wallboard")  # the static shell: no figures, no login needed
    assert page.status == 200 and "wallboard.js" in await page.text()
    read = await client.get(f"/api/tenants/{TENANT_A}/wallboard", headers=bearer)
    assert read.status == 200, await read.text()
    assert (await client.get(f"/api/tenants/{TENANT_B}/wallboard", headers=bearer)).status == 404
    for path in (
        f"/api/tenants/{TENANT_A}/tickets",
        f"/api/tenants/{TENANT_A}/kpis?from=2026-03-02&to=2026-03-02",
        f"/api/tenants/{TENANT_A}/escalations",
        f"/api/tenants/{TENANT_A}/categories",
        f"/api/tenants/{TENANT_A}/reports/2026-03",
    ):
        refused = await client.get(path, headers=bearer)
        assert refused.status == 403, (path, refused.status)
    assert (await client.post(f"/api/tenants/{TENANT_A}/tickets", json={}, headers=bearer)).status == 403
    kpis_page = await client.get("/kpis", headers=bearer, allow_redirects=False)
    assert kpis_page.status == 302  # pages take a session, not a token
    # a kpis:read token does not open the wallboard's figures
    async with Database(sqlite_url) as db:
        other = (await TokenService(db).create(screen.id, name="Berichte", scopes=["kpis:read"])).secret
    refused = await client.get(f"/api/tenants/{TENANT_A}/wallboard", headers={"Authorization": f"Bearer {other}"})
    assert refused.status == 403 and (await refused.json())["details"] == {"scope": "wallboard:read"}
