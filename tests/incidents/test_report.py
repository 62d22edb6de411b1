"""The monthly report's major incidents and the KPI API's (SQLite and PostgreSQL): each incident going on in the
month with its times, duration, the conversations during it, the callers who left at the announcement (the phone
side's outcomes) and its linked tickets; the totals with their definitions printed in German and English."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from markupsafe import escape

from tests.incidents.conftest import TENANT_A, TENANT_B, World
from tests.metrics.month import berlin, stay
from tests.support.webapp import web_settings
from tests.tickets.webapp import Api
from uhd_telephony.app.web import init_app
from uhd_telephony.calls.records import Outcome
from uhd_telephony.calls.repository import CallRepository
from uhd_telephony.metrics import report
from uhd_telephony.metrics.report import DEFINITIONS


def march(day: int, hh: int, mm: int) -> datetime:
    return berlin(day, 3, hh, mm)


async def _month(world: World) -> dict[str, Any]:
    """A March with an incident resolved in it, one still open at its end, and one of February."""
    world.clock.now = berlin(10, 2, 9, 0)
    february = await world.declare(title="Februar")
    world.clock.now = berlin(12, 2, 9, 0)
    await world.incidents.resolve(TENANT_A, february.id, resolution="vorbei", actor=world.anna)

    world.clock.now = march(2, 9, 0)
    kis = await world.declare(title="KIS ausgefallen", category="kis", known_at=march(2, 8, 30))
    for n in range(2):
        reported = await world.ticket(email=f"p{n}@klinikum-nord.example")
        await world.incidents.link(TENANT_A, kis.id, reported.id, actor=world.anna)
    world.clock.now = march(2, 11, 0)
    await world.incidents.resolve(TENANT_A, kis.id, resolution="Server neu gestartet", actor=world.anna)
    world.clock.now = march(31, 22, 0)
    network = await world.declare(title="Netz gestört")

    answered, transferred = Outcome.ANSWERED, Outcome.TRANSFERRED
    calls = [
        stay(1, march(2, 8, 50), answered, wait=5, talk=60),  # before the declaration
        stay(2, march(2, 9, 10), transferred, wait=5, talk=30, linkedid="conversation-2"),
        stay(3, march(2, 9, 12), answered, wait=5, talk=30, linkedid="conversation-2"),  # the same caller
        stay(4, march(2, 9, 20), Outcome.INCIDENT_SUBSCRIBED),
        stay(5, march(2, 9, 25), Outcome.INCIDENT_LEFT),
        stay(6, march(2, 10, 59), Outcome.ABANDONED, wait=40),
        stay(7, march(2, 11, 5), answered, wait=5, talk=60),  # after the resolution
        stay(8, march(2, 9, 30), answered, wait=5, talk=60, tenant=TENANT_B),  # another tenant's
        stay(9, march(31, 23, 0), Outcome.INCIDENT_LEFT),  # during the open one, in the month
        stay(10, berlin(1, 4, 0, 30), Outcome.INCIDENT_LEFT),  # during it, but April's
    ]
    await CallRepository(world.db).upsert_many(calls)
    return {"kis": kis, "network": network}


async def test_the_report_counts_each_incidents_calls_and_callers_who_left(world: World) -> None:
    made = await _month(world)
    built = await report.build(world.db, TENANT_A, "2026-03", now=march(31, 23, 30))
    section = report.to_json(built)["major_incidents"]
    kis, network = section["incidents"]
    assert (kis["id"], network["id"]) == (made["kis"].id, made["network"].id)  # February's is not March's
    assert (kis["known_at"], kis["declared_at"], kis["resolved_at"]) == (
        "2026-03-02T07:30:00.000Z", "2026-03-02T08:00:00.000Z", "2026-03-02T10:00:00.000Z",
    )  # fmt: skip
    assert kis["communicated_at"] == "2026-03-02T10:00:00.000Z"  # the linked callers' notices
    assert (kis["duration_s"], kis["calls"], kis["callers_left"]) == (9000.0, 4, 2)
    assert kis["left_by_outcome"] == {"incident_left": 1, "incident_subscribed": 1}
    assert (kis["linked_tickets"], kis["category_label"]) == (2, "KIS (Krankenhausinformationssystem)")
    assert (network["status"], network["duration_s"], network["calls"], network["callers_left"]) == ("open", None, 1, 1)
    assert section["totals"] == {
        "incidents": 2, "duration_s": 9000.0, "calls": 5, "callers_left": 3, "linked_tickets": 2,
    }  # fmt: skip
    flat = report.to_json(built)
    assert (flat["major_incidents_count"], flat["major_incidents_calls"], flat["major_incidents_callers_left"]) == (
        2,
        5,
        3,
    )
    assert flat["major_incidents_duration_s"] == 9000.0 and flat["major_incidents_linked_tickets"] == 2
    assert "Gespräche des Mandanten" in flat["definitions"]["major_incidents_calls"]


async def test_csv_and_html_print_the_incidents_in_words_with_their_definitions(world: World) -> None:
    await _month(world)
    built = await report.build(world.db, TENANT_A, "2026-03", now=march(31, 23, 30))
    text = await report.render(built, "csv")
    assert "Großstörungen\r\nTitel,Kategorie,Bekannt seit,Ausgerufen,Nutzer informiert,Behoben" in text
    assert 'KIS ausgefallen,KIS (Krankenhausinformationssystem),"02.03.2026, 08:30","02.03.2026, 09:00"' in text
    assert "2 Std. 30 Min." in text and "major_incidents_callers_left,Anrufer, die bei der Ansage" in text.replace(
        '"', ""
    )
    page = await report.render(built, "html")
    assert '<h2 id="major-incidents">Großstörungen</h2>' in page and "Netz gestört" in page
    assert 'id="kpi-major_incidents_count"' in page and "02.03.2026, 08:30" in page
    for key in ("major_incidents_count", "major_incidents_calls", "major_incidents_callers_left"):
        assert key in DEFINITIONS and str(escape(report.definition(key, "de"))) in page
    english = await report.render(await report.build(world.db, TENANT_A, "2026-03", locale="en"), "html")
    assert (
        ">Major incidents</h2>" in english and str(escape(report.definition("major_incidents_calls", "en"))) in english
    )
    assert "Conversations of the tenant" in english and "Großstörungen</h2>" not in english


async def test_a_month_without_incidents_says_so(world: World) -> None:
    built = await report.build(world.db, TENANT_A, "2026-03")
    nothing = {"incidents": 0, "duration_s": None, "calls": 0, "callers_left": 0, "linked_tickets": 0}
    assert report.to_json(built)["major_incidents"] == {"incidents": [], "totals": nothing}
    assert "Im Monat gab es keine Großstörung." in await report.render(built, "html")


async def test_the_kpi_api_has_the_same_incidents_for_a_period(world: World, aiohttp_client: Any) -> None:
    await _month(world)
    client = await aiohttp_client(init_app(web_settings(world.seeded.url)))
    anna = await Api(client).login("anna")
    figures = await anna.get("/kpis?from=2026-03-01&to=2026-03-31")
    built = await report.build(world.db, TENANT_A, "2026-03")
    assert figures["major_incidents"] == report.to_json(built)["major_incidents"]
    spec = await (await client.get("/api/openapi.json")).json()
    assert "major_incidents" in spec["components"]["schemas"]["KpiResponse"]["properties"]
    day = await anna.get("/kpis?from=2026-03-02T09:15:00%2B01:00&to=2026-03-02T09:30:00%2B01:00")
    (kis,) = day["major_incidents"]["incidents"]
    assert (kis["calls"], kis["callers_left"]) == (2, 2)  # the window of the period, not of the incident alone
    assert timedelta(seconds=kis["duration_s"]) == timedelta(hours=2, minutes=30)
