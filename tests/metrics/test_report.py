"""The monthly report: every figure of a month with known calls and tickets, exactly, on SQLite and PostgreSQL;
the report, the KPI API and kpi.py agree on the same stored rows; CSV, HTML, the route and the CLI."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.metrics.conftest import TENANT_A, TENANT_B
from tests.metrics.month import (
    MONTH_CALENDAR,
    berlin,
    store_month,
)
from tests.support.tenants import add_tenants
from tests.support.webapp import PASSWORD, login, seed, web_settings
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.app.cli import main
from uhd_telephony.app.web import init_app
from uhd_telephony.errors import InvalidInput
from uhd_telephony.i18n import gettext
from uhd_telephony.metrics import kpi, report, report_html
from uhd_telephony.sla.calendar import Calendar
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate

BERLIN = kpi.TIMEZONE
MONTH = "2026-11"


EXPECTED_CALLS = {
    "calls_offered": 11,  # 1, 3, 4, 5, 6, 7, 8, 9, 10, 13, 15
    "calls_answered": 6,  # 1, 3, 4, 9 (transferred), 10, 15
    "calls_abandoned": 1,
    "short_abandons": 1,
    "calls_timed_out": 2,
    "calls_outside_hours": 4,  # 11 (closed), 17, 18, 19
    "calls_closed": 1,
    "calls_answered_outside_hours": 2,  # 17, 18: not in reachability, service level or reaction time
    "transfers_in": 1,
    "reachability": 0.6,  # 6 / (11 - 1)
    "service_level": 0.5,  # waits 5, 20, 10, 8, 12.5 of 5, 30, 20, 10, 8, 12.5
    "abandon_rate": 0.1,
    "reaction_time_mean_s": 14.25,  # 85.5 / 6
    "reaction_time_median_s": 10.0,  # nearest rank 3 of 6
    "reaction_time_p90_s": 30.0,  # nearest rank 6 of 6
    "talk_time_mean_s": 820 / 6,
}
EXPECTED_TICKETS = {
    "tickets_created": 5,
    "tickets_escalated": 2,  # forwarded beyond 1st level; the pacs ticket's SLA escalation forwards nothing
    "escalation_time_mean_s": 2100.0,  # 600, 3600
    "escalation_time_p90_s": 3600.0,
    "first_contact_resolution": 0.4,  # the pacs and the hardware ticket of 5
    "sla_compliance_response": None,  # no ticket measured by an SLA: no figure
    "sla_compliance_resolution": None,
}


async def test_every_figure_of_a_known_month(db_url: str) -> None:
    await migrate(db_url)
    db = Database(db_url)
    try:
        await store_month(db)
        built = await report.build(db, TENANT_A, MONTH, now=berlin(1, 12, 6, 0))
    finally:
        await db.close()
    body = report.to_json(built)
    assert {k: body[k] for k in EXPECTED_CALLS} == EXPECTED_CALLS
    assert {k: body[k] for k in EXPECTED_TICKETS} == EXPECTED_TICKETS
    assert (body["from"], body["to"]) == ("2026-11-01T00:00:00+01:00", "2026-12-01T00:00:00+01:00")
    calls = body["calls"]
    assert calls["in_progress"] == 1 and calls["conversations"] == 10 and calls["answered_within_service_level"] == 5
    assert (calls["queued_outside_hours"], calls["answered_outside_hours"]) == (3, 2)
    assert calls["outcomes"] == {
        "abandoned": 2, "answered": 7, "closed": 1, "overflow": 1, "refused": 1, "short_abandon": 1, "timeout": 1,
        "transferred": 1,
    }  # fmt: skip
    grid = calls["offered_by_weekday_hour"]
    assert grid[6][0] == 1  # Sunday 1.11. 00:00:05
    assert grid[0][23] == 1  # Monday 30.11. 23:59:50
    assert grid[0][10] == 5 and grid[1][9] == 2 and grid[2][12] == 1 and grid[3][8] == 1
    assert sum(map(sum, grid)) == 11
    outside = calls["outside_hours_by_weekday_hour"]
    assert outside[5][22] == 1 and outside[0][6] == 1 and outside[5][11] == 1 and outside[2][10] == 1
    assert sum(map(sum, outside)) == 4
    assert body["business_hours"] == (
        "Mo. 06:30–24:00; Di. 06:30–24:00; Mi. 06:30–24:00; Do. 06:30–24:00; Fr. 06:30–24:00; So. 00:00–24:00, "
        "ohne die Feiertage (Sachsen)"
    )
    assert body["tickets_by_category"] == {"hardware": 1, "kis": 2, "none": 1, "pacs": 1}
    assert body["tickets_by_priority"] == {"1": 1, "2": 1, "3": 1, "4": 1, "none": 1}
    assert body["tickets_by_channel"] == {"mail": 1, "phone": 3, "web": 1}
    assert body["tickets_escalated_by_category"] == {"kis": 2}
    assert body["tickets_routed_by_category"] == {"kis": 2}
    assert body["first_contact"] == {"created": 5, "resolved_at_first_level": 2, "rate": 0.4}
    assert body["sla"] is None and "SLA" in body["sla_note"]
    assert body["generated_at"] == "2026-12-01T06:00:00+01:00"


async def test_the_report_the_kpi_api_and_kpi_py_agree(db_url: str, aiohttp_client: Any) -> None:
    await seed(db_url)
    db = Database(db_url)
    try:
        await AccountService(db).create("maria", PASSWORD, role="manager", tenants=[TENANT_A])
        records, facts = await store_month(db)
    finally:
        await db.close()
    client = await aiohttp_client(init_app(web_settings(db_url)))
    await login(client, "maria")
    response = await client.get(f"/api/tenants/{TENANT_A}/reports/{MONTH}", params={"format": "json"})
    assert response.status == 200, await response.text()
    from_report = await response.json()
    response = await client.get(f"/api/tenants/{TENANT_A}/kpis", params={"from": "2026-11-01", "to": "2026-11-30"})
    assert response.status == 200, await response.text()
    from_api = await response.json()
    start, end = report.month_period(MONTH)
    rows = [r for r in records if r.tenant == TENANT_A and start.timestamp() <= r.entered_at < end.timestamp()]
    cohort = [f for f in facts if f.tenant == TENANT_A and start <= f.created_at < end]
    calendar = Calendar.from_config(MONTH_CALENDAR)
    direct = {"calls": kpi.call_kpis(rows, calendar=calendar).to_dict(), "tickets": kpi.ticket_kpis(cohort).to_dict()}
    assert from_report["calls"] == from_api["calls"] == direct["calls"]
    assert from_api["business_hours"] == calendar.to_config()
    assert from_report["calls_answered_outside_hours"] == from_api["calls"]["answered_outside_hours"] == 2
    assert from_report["tickets"] == from_api["tickets"] == direct["tickets"]
    assert from_report["calls_offered"] == from_api["calls"]["offered"] == EXPECTED_CALLS["calls_offered"]
    assert from_report["reaction_time_p90_s"] == from_api["calls"]["reaction_time_s"]["p90"]


@pytest.fixture
async def month_app(sqlite_url: str, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    await seed(sqlite_url)
    db = Database(sqlite_url)
    try:
        await AccountService(db).create("maria", PASSWORD, role="manager", tenants=[TENANT_A])
        await store_month(db)
    finally:
        await db.close()
    yield await aiohttp_client(init_app(web_settings(sqlite_url)))


async def test_the_route_serves_csv_and_html_to_managers_only(month_app: TestClient) -> None:
    client = month_app
    url = f"/api/tenants/{TENANT_A}/reports/{MONTH}"
    assert (await client.get(url)).status == 401
    await login(client, "anna")  # an agent
    assert (await client.get(url)).status == 403
    await login(client, "maria")
    response = await client.get(url, params={"format": "csv"})
    assert response.status == 200 and response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    response = await client.get(url, params={"format": "html"})
    assert response.status == 200 and response.content_type == "text/html"
    assert "<svg" in await response.text()
    for bad in ({"format": "pdf"}, {"format": "json", "x": "1"}):
        assert (await client.get(url, params=bad)).status == 400
    for month in ("2026-13", "2026-1", "november"):
        assert (await client.get(f"/api/tenants/{TENANT_A}/reports/{month}")).status == 400
    assert (await client.get(f"/api/tenants/{TENANT_B}/reports/{MONTH}")).status == 404


async def test_csv_has_one_kpi_per_row_and_the_hour_table(sqlite_url: str) -> None:
    await migrate(sqlite_url)
    db = Database(sqlite_url)
    try:
        await store_month(db)
        built = await report.build(db, TENANT_A, MONTH, now=berlin(1, 12, 6, 0))
    finally:
        await db.close()
    rows = list(csv.reader(io.StringIO(report.to_csv(built))))
    by_key = {r[0]: r for r in rows if r}
    # German headers, labels and units; the key column stays for programs, the values stay numbers
    assert rows[0][:2] == ["Mandant", TENANT_A] and rows[1][:2] == ["Monat", "November 2026"]
    assert rows[2] == ["Erstellt", "01.12.2026, 06:00"]
    assert ["Schlüssel", "Kennzahl", "Wert", "Einheit", "Definition"] in rows
    assert by_key["calls_offered"][1:4] == ["Angebotene Anrufe", "11", "Anrufe"]
    assert by_key["reachability"][2:4] == ["0.6", "Anteil (0..1)"]
    assert by_key["reaction_time_p90_s"][2] == "30.0" and "Rangmethode" in by_key["reaction_time_p90_s"][4]
    assert by_key["sla_compliance_response"][2] == ""  # no invented number
    assert by_key["tickets_escalated_by_category.kis"][1:3] == [
        "Weitergeleitete Tickets: KIS (Krankenhausinformationssystem)",
        "2",
    ]
    assert by_key["tickets_by_category.none"][1] == "Erstellte Tickets: nicht klassifiziert"
    assert by_key["tickets_by_channel.phone"][1] == "Erstellte Tickets über Telefon"
    header = rows.index(["Angebotene Anrufe nach Wochentag und Stunde", *map(str, range(24))])
    assert rows[header + 1][0] == "Mo." and rows[header + 1][1 + 10] == "5"
    assert not [c for row in rows for c in row if re.search(r"\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", c)]


async def test_html_is_self_contained_german_and_defines_its_figures(sqlite_url: str) -> None:
    await migrate(sqlite_url)
    db = Database(sqlite_url)
    try:
        await store_month(db)
        built = await report.build(db, TENANT_A, MONTH, now=berlin(1, 12, 6, 0))
    finally:
        await db.close()
    page = await report.to_html(built)
    assert "November 2026" in page and TENANT_A in page and "erstellt 01.12.2026, 06:00" in page
    assert page.count("<svg") == 3
    for key, (label, _, _) in report.DEFINITIONS.items():
        # German, the report's language; a definition with the parameters of its rule filled in
        label, definition = gettext("de", label), report.definition(key, "de")
        if "SLA" not in label:
            assert label in page and definition.replace("„", "&#8222;")[:30] in page.replace("„", "&#8222;")
    assert 'id="kpi-reachability"><td>Erreichbarkeit</td><td class="num">60,0\u00a0%' in page
    # categories by their titles, priorities and channels in words: no slug or code in a cell
    for title in ("KIS (Krankenhausinformationssystem)", "PACS (Radiologie-Bildarchiv)", "Hardware",
                  "nicht klassifiziert", "2 – hoch", "ohne Priorität", "Telefon", "E-Mail"):  # fmt: skip
        assert f">{title}<" in page, title
    for raw in ("<td>kis</td>", "<td>none</td>", "<th>none</th>", "<th>phone</th>", "<td>pacs</td>"):
        assert raw not in page, raw
    assert "SLA-Einhaltung nicht ausgewiesen" in page
    # nothing to fetch: no external stylesheet, script, image or font
    assert not re.search(r"<(link|script|img)\b", page) and not re.search(r"url\((?!#)", page)
    assert not re.search(r'(src|href)="https?:', page)


def test_the_charts_are_svg_with_escaped_names_and_round_ticks() -> None:
    page = report_html.categories_svg({"kis": 12, "<script>alert(1)</script>": 3}, {"kis": 5})
    assert page.startswith("<svg") and page.endswith("</svg>") and "<script>" not in page
    assert "&lt;script&gt;" in page and "kis: 12 erstellt" in page
    assert report_html.nice_ticks(87_345) == [0, 20_000, 40_000, 60_000, 80_000, 100_000]
    assert report_html.nice_ticks(7) == [0, 2, 4, 6, 8] and report_html.nice_ticks(0) == [0, 1]
    assert report_html.nice_ticks(1) == [0, 1]
    assert (report_html.shade(0), report_html.shade(1)) == (report_html.BLUES[0], report_html.BLUES[-1])
    empty = [[0] * 24 for _ in range(7)]  # a month without calls: no division by zero
    assert "<rect" in report_html.heatmap_svg(empty, "leer") and "<rect" in report_html.hourly_bars_svg(empty, empty)


def test_a_month_is_berlin_midnight_to_midnight() -> None:
    assert report.month_period("2026-03") == (
        datetime(2026, 3, 1, tzinfo=BERLIN),
        datetime(2026, 4, 1, tzinfo=BERLIN),
    )
    start, end = report.month_period("2026-12")
    assert (end - start) == timedelta(days=31) and end.year == 2027
    for bad in ("2026-00", "2026-13", "26-11", "2026-11-01", "", "1999-01"):
        with pytest.raises(InvalidInput):
            report.month_period(bad)


async def test_the_cli_writes_each_format(sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await migrate(sqlite_url)
    db = Database(sqlite_url)
    try:
        await store_month(db)
    finally:
        await db.close()
    await add_tenants(sqlite_url, TENANT_A)
    base = ["report", "--tenant", TENANT_A, "--month", MONTH, "--database-url", sqlite_url]
    out = tmp_path / "report.json"
    assert await _run(main, [*base, "--format", "json", "--output", str(out)]) == 0
    assert json.loads(out.read_text())["calls_offered"] == 11
    assert await _run(main, [*base, "--format", "csv"]) == 0
    assert "calls_offered" in capsys.readouterr().out
    html = tmp_path / "report.html"
    assert await _run(main, [*base, "--format", "html", "--output", str(html)]) == 0
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert await _run(main, [*base, "--format", "json", "--month", "2026-13"]) == 1


async def _run(fn: Any, argv: list[str]) -> int:
    """The CLI runs its own event loop (asyncio.run): give it a thread of its own."""
    import asyncio

    return int(await asyncio.to_thread(fn, argv))
