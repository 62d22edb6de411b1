"""Recurring problems in the monthly report: rising categories, callers with repeated tickets, bursts — a
constructed month with every edge (exactly 30 days, exactly 60 minutes, a month before without tickets), exactly,
on SQLite and PostgreSQL; the HTML and CSV name people only as the report may."""

from __future__ import annotations

import csv
import io
from datetime import UTC, timedelta

import pytest

from tests.metrics.conftest import TENANT_A, TENANT_B
from tests.metrics.problem_month import Month, at, constructed
from uhd_telephony.i18n import format_percent
from uhd_telephony.metrics import report
from uhd_telephony.metrics.recurring import mask_number, previous_month, recurring_problems

MONTH = "2026-11"
UNKNOWN = "+491701234567"


async def _rising(m: Month) -> None:
    """October against November, top-level categories (subcategories count for theirs)."""
    plan = {  # category: (October, November)
        "kis/login": (10, 12),  # +2 (+20 %)
        "pacs": (2, 11),  # +9 (+450 %)
        "hardware/printer": (0, 10),  # new
        "infrastructure": (0, 9),  # below the minimum of 10: not listed
        "standard-apps": (12, 10),  # falling: not listed
    }
    for path, (october, november) in plan.items():
        await m.tickets(TENANT_A, [at(15, 10, 10)] * october, path)
        await m.tickets(TENANT_A, [at(16, 11, 10)] * november, path)
    await m.tickets(TENANT_A, [at(16, 11, 10)] * 20, None)  # unclassified: no category, never "rising"
    await m.tickets(TENANT_B, [at(16, 11, 10)] * 30, "facility")  # the other tenant's


async def test_rising_categories_against_the_month_before(db_url: str) -> None:
    async with constructed(db_url, TENANT_A, TENANT_B) as m:
        await _rising(m)
        found = await recurring_problems(m.db, TENANT_A, *report.month_period(MONTH))
        # the month before had no ticket at all (September against August): every category of 10+ is "new"
        first = await recurring_problems(m.db, TENANT_A, *report.month_period("2026-10"))
    assert [r.to_dict() for r in found.rising] == [
        {"category": "hardware", "count": 10, "previous": 0, "change": 10, "change_ratio": None},
        {"category": "pacs", "count": 11, "previous": 2, "change": 9, "change_ratio": 4.5},
        {"category": "kis", "count": 12, "previous": 10, "change": 2, "change_ratio": 0.2},
    ]
    assert [(r.category, r.count, r.previous) for r in first.rising] == [("standard-apps", 12, 0), ("kis", 10, 0)]


async def _callers(m: Month) -> dict[str, int]:
    """Callers around the 30-day window; returns their directory ids."""
    ids = {
        "mueller": await m.person(TENANT_A, "Dr. Jürgen Müller", "Kardiologie"),
        "weiss": await m.person(TENANT_A, "Sabine Weiß", "Station 3B"),
        "becker": await m.person(TENANT_A, "Klaus Becker", None),
        "early": await m.person(TENANT_A, "Frühe Anruferin", "Labor"),
        "mixed": await m.person(TENANT_A, "Gemischt", "Verwaltung"),
        "ward": await m.person(TENANT_A, "Station 4A (Stationstelefon)", "Innere Medizin", place=True),
    }
    t0 = at(20, 10, 10).astimezone(UTC)  # 30 days later (720 hours, over the clock change) is 19.11. 09:00 Berlin
    # exactly 30 days from the first to the third: within the window, which ends in November
    await m.tickets(TENANT_A, [t0, t0 + timedelta(days=12), t0 + timedelta(days=30)], "kis/login",
                    user=ids["mueller"], number="+492319860001")  # fmt: skip
    # 30 days and a second: never three in one window
    await m.tickets(TENANT_A, [t0, t0 + timedelta(days=10), t0 + timedelta(days=30, seconds=1)], "pacs",
                    user=ids["weiss"])  # fmt: skip
    # three in October: a window that ends before the month
    await m.tickets(TENANT_A, [at(2, 10), at(5, 10), at(9, 10)], "kis", user=ids["early"])
    # two KIS and one PACS: not one category
    await m.tickets(TENANT_A, [at(2, 11), at(3, 11)], "kis", user=ids["mixed"])
    await m.ticket(TENANT_A, at(4, 11), "pacs", user=ids["mixed"])
    # subcategories of one top-level category: one category; four of them, one the day before the month
    await m.tickets(TENANT_A, [at(31, 10, 23), at(2, 11)], "kis/orbis", user=ids["becker"])
    await m.tickets(TENANT_A, [at(3, 11), at(28, 11)], "kis", user=ids["becker"])
    # an unknown number: shown masked; a shared ward phone: its place
    await m.tickets(TENANT_A, [at(10, 11, 8), at(10, 11, 9), at(11, 11, 8)], "hardware", number=UNKNOWN)
    await m.tickets(TENANT_A, [at(12, 11), at(13, 11), at(14, 11)], "standard-apps", place=ids["ward"])
    # unclassified, and without any caller: in no list
    await m.tickets(TENANT_A, [at(5, 11), at(6, 11), at(7, 11)], None, user=ids["weiss"])
    await m.tickets(TENANT_A, [at(5, 11), at(6, 11), at(7, 11)], "facility")
    # the other tenant: the same number, three times
    await m.tickets(TENANT_B, [at(5, 11), at(6, 11), at(7, 11)], "hardware", number=UNKNOWN)
    return ids


async def test_callers_with_three_tickets_of_one_category_within_thirty_days(db_url: str) -> None:
    async with constructed(db_url, TENANT_A, TENANT_B) as m:
        await _callers(m)
        found = await recurring_problems(m.db, TENANT_A, *report.month_period(MONTH))
    callers = {(c.caller, c.category): c for c in found.callers}
    assert sorted(callers) == [
        ("+49\u2022\u2022\u2022\u2022\u2022\u2022\u2022\u202267", "hardware"),
        ("Dr. Jürgen Müller", "kis"),
        ("Klaus Becker", "kis"),
        ("Station 4A (Stationstelefon)", "standard-apps"),
    ]
    assert found.callers_total == 4 and found.callers[0].caller == "Klaus Becker"  # four tickets: first
    becker = callers[("Klaus Becker", "kis")]
    assert (becker.tickets, becker.department, becker.kind) == (4, None, "user")
    assert becker.first_at == at(31, 10, 23) and becker.last_at == at(28, 11)
    assert becker.numbers == tuple(sorted(becker.numbers)) and len(becker.numbers) == 4
    mueller = callers[("Dr. Jürgen Müller", "kis")]
    assert (mueller.tickets, mueller.department) == (3, "Kardiologie")
    assert mueller.last_at - mueller.first_at == timedelta(days=30)
    ward = callers[("Station 4A (Stationstelefon)", "standard-apps")]
    assert (ward.kind, ward.department) == ("place", "Innere Medizin")
    unknown = callers[(mask_number(UNKNOWN), "hardware")]
    assert unknown.kind == "number" and unknown.department is None and UNKNOWN not in str(found.to_dict())


async def test_a_caller_list_shows_the_newest_ten_numbers(sqlite_url: str) -> None:
    async with constructed(sqlite_url, TENANT_A) as m:
        who = await m.person(TENANT_A, "Viel Anrufer", "IT")
        made = await m.tickets(TENANT_A, [at(1, 11) + timedelta(hours=h) for h in range(14)], "kis", user=who)
        found = await recurring_problems(m.db, TENANT_A, *report.month_period(MONTH))
    (caller,) = found.callers
    assert caller.tickets == 14 and caller.numbers == tuple(m.numbers[i] for i in made[4:])  # the newest ten


async def _bursts(m: Month) -> None:
    day = at(12, 11, 9)
    # PACS: five within exactly 60 minutes: one burst
    await m.tickets(TENANT_A, [day + timedelta(minutes=15 * i) for i in range(5)], "pacs/viewer")
    # KIS: five within 60 minutes and a second: none
    await m.tickets(TENANT_A, [day + timedelta(hours=5, minutes=15 * i) for i in range(4)], "kis")
    await m.ticket(TENANT_A, day + timedelta(hours=6, seconds=1), "kis")
    # hardware: seven in one hour and one five minutes later (overlapping windows: one burst of eight), and five
    # within twenty minutes three days later (a second burst)
    await m.tickets(TENANT_A, [at(13, 11, 8) + timedelta(minutes=10 * i) for i in range(7)], "hardware")
    await m.ticket(TENANT_A, at(13, 11, 9, 5), "hardware/printer")
    await m.tickets(TENANT_A, [at(16, 11, 14) + timedelta(minutes=5 * i) for i in range(5)], "hardware")
    # unclassified, the month before, the other tenant: none of them
    await m.tickets(TENANT_A, [day + timedelta(minutes=i) for i in range(9)], None)
    await m.tickets(TENANT_A, [at(31, 10, 23, 50) + timedelta(minutes=2 * i) for i in range(5)], "facility")
    await m.tickets(TENANT_B, [day + timedelta(minutes=i) for i in range(9)], "pacs")


async def test_bursts_of_one_category_within_an_hour(db_url: str) -> None:
    async with constructed(db_url, TENANT_A, TENANT_B) as m:
        await _bursts(m)
        found = await recurring_problems(m.db, TENANT_A, *report.month_period(MONTH))
    # the largest first, then the earliest
    assert [(b.category, b.start, b.end, b.tickets) for b in found.bursts] == [
        ("hardware", at(13, 11, 8), at(13, 11, 9, 5), 8),
        ("pacs", at(12, 11, 9), at(12, 11, 10), 5),
        ("hardware", at(16, 11, 14), at(16, 11, 14, 20), 5),
    ]
    assert found.bursts_total == 3
    assert found.to_dict()["bursts"][1] == {"category": "pacs", "start": "2026-11-12T08:00:00.000Z",
                                            "end": "2026-11-12T09:00:00.000Z", "tickets": 5}  # fmt: skip


async def test_the_section_in_html_and_csv_german_and_english(sqlite_url: str) -> None:
    async with constructed(sqlite_url, TENANT_A, TENANT_B) as m:
        await _rising(m)
        await _callers(m)
        await _bursts(m)
        german = await report.build(m.db, TENANT_A, MONTH, now=at(1, 12, 6))
        english = await report.build(m.db, TENANT_A, MONTH, now=at(1, 12, 6), locale="en")
    body = report.to_json(german)
    assert set(body["recurring_problems"]) == {"rising_categories", "repeat_callers", "repeat_callers_total",
                                               "bursts", "bursts_total", "parameters"}  # fmt: skip
    assert body["recurring_problems"]["parameters"] == {"min_tickets": 10, "repeat": 3, "days": 30, "burst": 5,
                                                        "minutes": 60}  # fmt: skip
    page = await report.to_html(german)
    begin = page.index('<h2 id="recurring">')
    section = page[begin : page.index("<h2 ", begin + 1)]
    # the month before had no hardware ticket: "neu"; the others their rise in per cent
    new, *others = german.recurring.rising
    assert new.category == "hardware" and new.previous == 0 and others
    rises = [f"+{r.change} (+{format_percent(r.change_ratio, 'de')})" for r in others]
    for words in (
        "Wiederkehrende Probleme", "Steigende Kategorien", "Anrufer mit wiederholten Tickets", "Häufungen",
        "mindestens 10", "3 oder mehr Tickets einer Hauptkategorie innerhalb von 30 Tagen",
        "5 oder mehr innerhalb von 60 Minuten", "Hardware", f"+{new.change} (neu)", *rises,
        "Dr. Jürgen Müller<br><span class=\"def\">Kardiologie</span>", "Station 4A (Stationstelefon)",
        "+49\u2022\u2022\u2022\u2022\u2022\u2022\u2022\u202267", "13.11.2026, 08:00 bis 13.11.2026, 09:05",
        "PACS (Radiologie-Bildarchiv)",
    ):  # fmt: skip
        assert words in section, words
    for raw in (UNKNOWN, "<td>hardware</td>", "<td>pacs</td>", "kis/login", "T08:00", "%(", "user</td>"):
        assert raw not in section, raw
    rows = list(csv.reader(io.StringIO(report.to_csv(german))))
    start = rows.index(["Häufungen"])
    assert rows[start + 2] == ["Hauptkategorie", "Erstes Ticket", "Letztes Ticket", "Tickets"]
    assert ["Hardware", "13.11.2026, 08:00", "13.11.2026, 09:05", "8"] in rows[start + 3 :]
    masked = next(r for r in rows if r and "\u2022" in r[0])
    assert masked[0] == "'+49\u2022\u2022\u2022\u2022\u2022\u2022\u2022\u202267"  # csv_safe: "+" is a formula start
    assert rows[rows.index(["Steigende Kategorien"]) + 3] == ["Hardware", str(new.count), "0", str(new.change), ""]

    page = await report.to_html(english)
    for words in ("Recurring problems", "Rising categories", "Callers with repeated tickets", "Bursts",
                  f"+{new.change} (new)", "13 Nov 2026, 08:00 to 13 Nov 2026, 09:05"):  # fmt: skip
        assert words in page, words


async def test_an_empty_month_says_so(sqlite_url: str) -> None:
    async with constructed(sqlite_url) as m:
        built = await report.build(m.db, TENANT_A, MONTH, now=at(1, 12, 6))
    assert built.recurring.to_dict()["rising_categories"] == [] and built.recurring.bursts_total == 0
    page = await report.to_html(built)
    for words in (
        "Keine Kategorie ist gegenüber dem Vormonat gestiegen.",
        "Kein Anrufer hatte wiederholte Tickets einer Kategorie.",
        "Keine Häufung von Tickets in diesem Monat.",
    ):
        assert words in page, words


@pytest.mark.parametrize(
    ("number", "shown"),
    [("+491701234567", "+49\u2022\u2022\u2022\u2022\u2022\u2022\u2022\u202267"), ("4711", "\u2022\u2022\u20221"),
     ("0231 555 77", "023\u2022\u2022\u2022\u2022\u2022\u202277"), ("12345", "\u2022\u2022\u202245"), ("", "")],
)  # fmt: skip
def test_a_number_is_shown_masked(number: str, shown: str) -> None:
    assert mask_number(number) == shown


def test_the_month_before() -> None:
    for month, before in (("2026-11", "2026-10"), ("2026-01", "2025-12"), ("2026-03", "2026-02")):
        assert previous_month(report.month_period(month)[0]) == report.month_period(before)[0]
