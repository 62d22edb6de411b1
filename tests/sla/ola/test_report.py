"""The monthly report's OLA section on a constructed month, on SQLite and PostgreSQL: per group the routings of the
month, response and resolution met %, mean and p90 time to resolve in the group's business time, with the
definitions printed — in the HTML, the JSON and the CSV, German by default."""

from __future__ import annotations

import csv
import io

import pytest

from tests.sla.conftest import AGENT, API, OTHER, TENANT, berlin
from tests.sla.ola.conftest import PARTNER, SECOND, OlaWorld
from uhd_telephony.metrics import report

NOW = berlin(2026, 4, 1, 6, 0)


async def _month(ola: OlaWorld) -> None:
    """March 2026 (business hours Mon-Fri 08:00-17:00): Medisoft (1 h / 4 h) and 2nd level (30 min / 2 h)."""
    w = ola.w

    async def ticket(at: tuple[int, ...], group: str) -> int:
        w.at(berlin(*at))
        made = await w.ticket()
        await ola.route(made.id, group, berlin(*at))
        return made.id

    async def act(at: tuple[int, ...], ticket_id: int, status: str | None = None, *, by: str) -> None:
        w.at(berlin(*at))
        if status is None:
            await w.workflow.comment(TENANT, ticket_id, text="Wir sind dran.", public=True, actor=by)
        else:
            await w.move(ticket_id, status, "erledigt" if status == "resolved" else None, actor=by)

    # 1: answered after 30 min, resolved after 2 h: both met
    one = await ticket((2026, 3, 2, 9, 0), PARTNER)
    await act((2026, 3, 2, 9, 30), one, by=ola.partner)
    await act((2026, 3, 2, 11, 0), one, "resolved", by=ola.partner)
    # 2: Medisoft never answers; the helpdesk resolves it after 6 h: both missed
    two = await ticket((2026, 3, 2, 9, 0), PARTNER)
    await act((2026, 3, 2, 15, 0), two, "resolved", by=AGENT)
    # 3: answered in 30 min; the caller's wait from 16:45 to Wednesday 09:00 stands still: 2 h of business time
    three = await ticket((2026, 3, 3, 16, 0), PARTNER)
    await act((2026, 3, 3, 16, 30), three, by=ola.partner)
    await act((2026, 3, 3, 16, 45), three, "in_progress", by=API)
    await act((2026, 3, 3, 16, 45), three, "waiting", by=API)
    await act((2026, 3, 4, 9, 0), three, "in_progress", by=API)
    await act((2026, 3, 4, 10, 15), three, "resolved", by=ola.partner)
    # 4: Medisoft has it 20 minutes (undecided), then 2nd level answers in 10 and resolves in 40 minutes
    four = await ticket((2026, 3, 2, 10, 0), PARTNER)
    await ola.route(four, SECOND, berlin(2026, 3, 2, 10, 20))
    await act((2026, 3, 2, 10, 30), four, by=AGENT)
    await act((2026, 3, 2, 11, 0), four, "resolved", by=AGENT)
    # 5: routed in February: not this month's
    await ticket((2026, 2, 27, 9, 0), PARTNER)
    # 6: routed on the month's last afternoon, still open at the report's time: 30 minutes on the clock, undecided
    await ticket((2026, 3, 31, 16, 30), PARTNER)


async def test_the_section_counts_each_groups_routings_of_the_month(ola: OlaWorld) -> None:
    await _month(ola)
    built = await report.build(ola.w.db, TENANT, "2026-03", now=NOW)
    figures = {g.group: g for g in built.ola.groups}
    assert [g.group for g in built.ola.groups] == [SECOND, PARTNER]  # by name: "2nd-Level-…", "Medisoft"
    medisoft, second = figures[PARTNER], figures[SECOND]
    assert (medisoft.routed, medisoft.response_met, medisoft.response_missed) == (5, 2, 1)
    assert (medisoft.resolution_met, medisoft.resolution_missed, medisoft.resolved) == (2, 1, 3)
    assert medisoft.response_rate == pytest.approx(2 / 3) and medisoft.resolution_rate == pytest.approx(2 / 3)
    assert medisoft.time_to_resolve.mean == pytest.approx((2 + 6 + 2) * 3600 / 3)
    assert medisoft.time_to_resolve.p90 == 6 * 3600
    assert (second.routed, second.response_rate, second.resolution_rate, second.resolved) == (1, 1.0, 1.0, 1)
    assert (second.time_to_resolve.mean, second.time_to_resolve.p90) == (2400, 2400)

    shown = report.to_json(built)
    assert shown["olas"]["groups"][1] == {
        "group": PARTNER, "name": "Medisoft", "routed": 5,
        "response": {"met": 2, "missed": 1, "rate": pytest.approx(2 / 3)},
        "resolution": {"met": 2, "missed": 1, "rate": pytest.approx(2 / 3)},
        "resolved": 3, "time_to_resolve_s": {"mean": pytest.approx(12000), "p90": 21600},
    }  # fmt: skip
    assert shown["definitions"]["ola.routed"].startswith("Weiterleitungen des Monats (Europe/Berlin)")

    page = await report.to_html(built)
    section = page[page.index('<h2 id="ola">') : page.index('<h2 id="satisfaction">')]
    assert "Eigene Ziele der Gruppen (OLA)" in section
    assert '<td>Medisoft</td><td class="num">5</td><td class="num">66,7\u00a0%</td>' in section
    assert "3 Std. 20 Min." in section and "6 Std." in section  # mean and p90 in words
    for label in ("An die Gruppe weitergeleitet", "OLA-Reaktionszeit eingehalten", "OLA-Lösungszeit eingehalten",
                  "Lösungsdauer (OLA)"):  # fmt: skip
        assert f"<strong>{label}:</strong>" in section
    assert PARTNER not in section and "partner:" not in section  # groups by their names

    rows = list(csv.reader(io.StringIO(report.to_csv(built))))
    start = rows.index(["Eigene Ziele der Gruppen (OLA)"])
    assert rows[start + 1][0] == "ola.routed" and rows[start + 1][1].startswith("Weiterleitungen des Monats")
    header = rows[start + 5]
    assert header[:3] == ["Gruppe", "Weitergeleitet", "Reaktionszeit eingehalten"]
    assert rows[start + 7] == ["Medisoft", "5", "0.6667", "0.6667", "3", "12000.0", "21600.0"]

    english = await report.to_html(await report.build(ola.w.db, TENANT, "2026-03", now=NOW, locale="en"))
    assert "Support groups' own targets (OLA)" in english.replace("&#39;", "'") and "66.7%" in english


async def test_a_tenant_without_olas_says_so(ola: OlaWorld) -> None:
    built = await report.build(ola.w.db, OTHER, "2026-03", now=NOW)
    assert built.ola.groups == () and report.to_json(built)["olas"] == {"groups": []}
    page = await report.to_html(built)
    assert "Keine Gruppe dieses Mandanten hat eigene Ziele (OLA)." in page
    assert "<strong>Lösungsdauer (OLA):</strong>" in page  # the definitions all the same
