"""Customer satisfaction in the monthly report and the KPI API: the figures of a constructed month, exactly, on
SQLite and PostgreSQL; the month's edges; the HTML and CSV in German and English; one tenant never sees another's."""

from __future__ import annotations

import csv
import io
from typing import Any

from tests.metrics.conftest import TENANT_A, TENANT_B
from tests.metrics.problem_month import Month, at, constructed
from tests.support.webapp import login, seed, web_settings
from uhd_telephony.app.web import init_app
from uhd_telephony.metrics import report
from uhd_telephony.metrics.api import KpiResponse
from uhd_telephony.metrics.satisfaction import satisfaction_figures
from uhd_telephony.store.db import Database

MONTH = "2026-11"
HOSTILE = '<script>alert("x")</script>\n=HYPERLINK("http://evil.example")'


async def _month(m: Month) -> None:
    """November 2026: tenant A's tickets resolved and rated around the month's edges, and tenant B's."""
    # resolved in November: 4 KIS, 3 PACS, 1 unclassified (8); one resolved on 31.10. and one on 1.12.
    kis = [await m.ticket(TENANT_A, at(2, 11), "kis/login", resolved=at(3, 11, 9)) for _ in range(3)]
    kis.append(await m.ticket(TENANT_A, at(2, 11), "kis", resolved=at(1, 11, 0, 0, 0)))  # the month's first second
    pacs = [await m.ticket(TENANT_A, at(2, 11), "pacs", resolved=at(30, 11, 23, 59, 59)) for _ in range(3)]
    loose = await m.ticket(TENANT_A, at(2, 11), None, resolved=at(15, 11))
    october = await m.ticket(TENANT_A, at(20, 10), "kis", resolved=at(31, 10, 23, 59, 59), status="closed")
    december = await m.ticket(TENANT_A, at(20, 11), "pacs", resolved=at(1, 12, 0, 0, 0))
    await m.ticket(TENANT_A, at(5, 11), "kis")  # still open: no base
    # ratings given in November: 5, 4, 4 (kis), 1 (pacs), 3 (unclassified); the October ticket's, rated on 2.11.
    # under its category then (kis): 2. Reclassified since: a rating keeps the category it was given under.
    await m.rating(kis[0], TENANT_A, 5, at(1, 11, 0, 0, 0), "kis/login")
    await m.rating(kis[1], TENANT_A, 4, at(10, 11), "kis/login", "Schnell und freundlich")
    await m.rating(kis[2], TENANT_A, 4, at(30, 11, 23, 59, 59), "kis/login", HOSTILE)
    await m.rating(pacs[0], TENANT_A, 1, at(12, 11), "hardware/printer", "=SUMME(1+1) Drei Tage gewartet")
    await m.rating(loose, TENANT_A, 3, at(16, 11), None)
    await m.rating(october, TENANT_A, 2, at(2, 11), "kis")
    # not November's: given on 31.10. and on 1.12.; and tenant B's
    await m.rating(pacs[1], TENANT_A, 5, at(31, 10, 23, 59, 59), "pacs", "Oktober")
    await m.rating(december, TENANT_A, 1, at(1, 12, 0, 0, 0), "pacs", "Dezember")
    theirs = await m.ticket(TENANT_B, at(2, 11), "kis", resolved=at(3, 11))
    await m.rating(theirs, TENANT_B, 1, at(4, 11), "kis", "Geheim von Süd")


EXPECTED = {
    "responses": 6,
    "mean": 19 / 6,  # 5 + 4 + 4 + 1 + 3 + 2
    "distribution": {"1": 1, "2": 1, "3": 1, "4": 2, "5": 1},
    "resolved": 8,
    "response_rate": 6 / 8,
}
EXPECTED_BY_CATEGORY = {
    "kis": {"responses": 4, "mean": 15 / 4, "distribution": {"1": 0, "2": 1, "3": 0, "4": 2, "5": 1},
            "resolved": 4, "response_rate": 1.0},
    "pacs": {"responses": 0, "mean": None, "distribution": dict.fromkeys("12345", 0), "resolved": 3,
             "response_rate": 0.0},
    "hardware": {"responses": 1, "mean": 1.0, "distribution": {"1": 1, "2": 0, "3": 0, "4": 0, "5": 0},
                 "resolved": 0, "response_rate": None},
    "none": {"responses": 1, "mean": 3.0, "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 0}, "resolved": 1,
             "response_rate": 1.0},
}  # fmt: skip


async def test_the_figures_of_a_constructed_month(db_url: str) -> None:
    async with constructed(db_url, TENANT_A, TENANT_B) as m:
        await _month(m)
        built = await report.build(m.db, TENANT_A, MONTH, now=at(1, 12, 6))
    body = report.to_json(built)["satisfaction"]
    assert {k: body[k] for k in EXPECTED} == EXPECTED
    assert body["by_category"] == EXPECTED_BY_CATEGORY
    assert list(body["by_category"]) == ["hardware", "kis", "pacs", "none"]  # unclassified last
    # the comments written in the month, newest first, with ticket, score and category; not October's, December's
    # or the other tenant's
    assert [(c["score"], c["category"], c["comment"]) for c in body["comments"]] == [
        (4, "kis", HOSTILE), (1, "hardware", "=SUMME(1+1) Drei Tage gewartet"), (4, "kis", "Schnell und freundlich"),
    ]  # fmt: skip
    assert body["comments_total"] == 3 and body["comments"][0]["at"] == "2026-11-30T22:59:59.000Z"
    assert body["comments"][0]["ticket"].startswith("UHD-2026-")
    definitions = report.to_json(built)["definitions"]
    assert "bis zu 30 Tage nach dem Abschluss" in definitions["satisfaction"]
    assert "%(" not in str(definitions)


async def test_an_empty_month_has_no_mean_and_no_rate(sqlite_url: str) -> None:
    async with constructed(sqlite_url, TENANT_A, TENANT_B) as m:
        await _month(m)
        empty = await satisfaction_figures(m.db, TENANT_A, *report.month_period("2026-09"))
        built = await report.build(m.db, TENANT_A, "2026-09", now=at(1, 10, 6))
    assert empty.figures() == {"responses": 0, "mean": None, "distribution": dict.fromkeys("12345", 0),
                               "resolved": 0, "response_rate": None, "by_category": {}}  # fmt: skip
    page = await report.to_html(built)
    assert "Keine Bewertungen und keine gelösten Tickets in diesem Monat." in page


async def test_the_html_and_csv_name_categories_and_escape_comments(sqlite_url: str) -> None:
    async with constructed(sqlite_url, TENANT_A, TENANT_B) as m:
        await _month(m)
        german = await report.build(m.db, TENANT_A, MONTH, now=at(1, 12, 6))
        english = await report.build(m.db, TENANT_A, MONTH, now=at(1, 12, 6), locale="en")
    page = await report.to_html(german)
    section = page[page.index('<h2 id="satisfaction">') : page.index('<h2 id="recurring">')]
    assert '<h2 id="satisfaction">Kundenzufriedenheit</h2>' in section
    assert "bis zu 30 Tage nach dem Abschluss" in section and "Rücklaufquote" in section
    row = section[section.index('id="satisfaction-all"') :].split("</tr>")[0]
    assert ">6<" in row and ">3,17<" in row and ">8<" in row and "75,0\u00a0%" in row
    for title in ("KIS (Krankenhausinformationssystem)", "PACS (Radiologie-Bildarchiv)", "Hardware",
                  "nicht klassifiziert", "Alle Kategorien"):  # fmt: skip
        assert f">{title}<" in section, title
    for raw in ("<td>kis</td>", "<td>none</td>", "<td>pacs</td>", "kis/login", "Z</td>"):
        assert raw not in section, raw
    assert "<script>" not in section and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in section
    assert "30.11.2026, 23:59" in section  # the comment's time in Berlin words
    assert "1 gar nicht zufrieden" in section and "5 sehr zufrieden" in section
    assert "Geheim von Süd" not in page and "Oktober</td>" not in section

    rows = list(csv.reader(io.StringIO(report.to_csv(german))))
    start = rows.index(["Kundenzufriedenheit"])
    header = rows[start + 2]
    assert header[:3] == ["Hauptkategorie", "Bewertungen", "Mittelwert"] and header[3] == "1 (gar nicht zufrieden)"
    assert rows[start + 3] == ["Alle Kategorien", "6", "3.17", "1", "1", "1", "2", "1", "8", "0.75"]
    comments = [r for r in rows if r and r[0].startswith("UHD-") and len(r) == 5]
    hostile = next(r for r in comments if "script" in r[3])
    assert hostile[1:4] == ["4 (zufrieden)", "KIS (Krankenhausinformationssystem)", HOSTILE]
    formula = next(r for r in comments if "SUMME" in r[3])
    assert formula[3] == "'=SUMME(1+1) Drei Tage gewartet"  # csv_safe: shown as text, never run
    assert all(not cell.startswith(("=", "+", "@")) for r in rows for cell in r)

    page = await report.to_html(english)
    assert '<h2 id="satisfaction">Customer satisfaction</h2>' in page and "Response rate" in page
    assert "up to 30 days after it was closed" in page and ">3.17<" in page and "All categories" in page
    assert "Kundenzufriedenheit" not in page


async def test_the_kpi_api_gives_each_tenant_its_own_satisfaction(db_url: str, aiohttp_client: Any) -> None:
    await seed(db_url)  # anna (klinikum-nord), carl (klinikum-sued)
    db = Database(db_url)
    try:
        m = Month(db)
        await m.categories_of()  # the seeded trees
        ours = await m.ticket(TENANT_A, at(2, 11), "pacs", resolved=at(3, 11))
        await m.ticket(TENANT_A, at(2, 11), "pacs", resolved=at(3, 11))
        theirs = await m.ticket(TENANT_B, at(2, 11), "kis", resolved=at(3, 11))
        await m.rating(ours, TENANT_A, 2, at(4, 11, 10), "pacs/viewer", "zu langsam")
        await m.rating(theirs, TENANT_B, 5, at(4, 11, 10), "kis")
    finally:
        await db.close()
    client = await aiohttp_client(init_app(web_settings(db_url)))
    await login(client, "anna")
    period = {"from": "2026-11-01", "to": "2026-11-30"}
    response = await client.get(f"/api/tenants/{TENANT_A}/kpis", params=period)
    body = await response.json()
    assert response.status == 200, body
    KpiResponse.model_validate(body)  # as the OpenAPI document says
    assert body["satisfaction"] == {
        "responses": 1, "mean": 2.0, "distribution": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 0}, "resolved": 2,
        "response_rate": 0.5,
        "by_category": {"pacs": {"responses": 1, "mean": 2.0, "distribution": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 0},
                                 "resolved": 2, "response_rate": 0.5}},
    }  # fmt: skip
    assert "zu langsam" not in await response.text()  # comments are the report's, not the KPI interface's
    # a period without the rating: nothing
    quiet = await (
        await client.get(f"/api/tenants/{TENANT_A}/kpis", params={"from": "2026-11-05", "to": "2026-11-30"})
    ).json()
    assert quiet["satisfaction"]["responses"] == 0 and quiet["satisfaction"]["resolved"] == 0
    # the other tenant's: not for anna, and carl sees only his
    assert (await client.get(f"/api/tenants/{TENANT_B}/kpis", params=period)).status == 404
    other = await aiohttp_client(init_app(web_settings(db_url)))
    await login(other, "carl")
    theirs_body = await (await other.get(f"/api/tenants/{TENANT_B}/kpis", params=period)).json()
    assert theirs_body["satisfaction"]["distribution"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1}
