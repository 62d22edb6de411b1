"""KPIs as the contract defines them (issue 20 item 1): each rule changes its figure as ``metrics.kpi`` says, the
same in the SQL aggregates (report), the streamed path (API views), kpi.py and the live counters, on SQLite and
PostgreSQL; a month keeps its rules after a change; one tenant's contract never touches another's figures."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from tests.metrics.conftest import TENANT_A, TENANT_B, store_calls
from tests.metrics.month import stay
from uhd_telephony.audit.models import AuditEntry
from uhd_telephony.calls.domain import CallEnded
from uhd_telephony.calls.records import CallRecord, Outcome
from uhd_telephony.errors import InvalidInput, NotFound
from uhd_telephony.metrics import aggregates, kpi, queries, report
from uhd_telephony.metrics.live import CallCounters
from uhd_telephony.sla.calendar import Calendar
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tenants import contract
from uhd_telephony.tenants.contract import KpiRules, check_rules, set_contract
from uhd_telephony.tenants.service import TenantService

TZ = kpi.TIMEZONE
DEC = (datetime(2026, 12, 1, tzinfo=TZ), datetime(2027, 1, 1, tzinfo=TZ))
JAN = (datetime(2027, 1, 1, tzinfo=TZ), datetime(2027, 2, 1, tzinfo=TZ))
BEFORE_JANUARY = date(2026, 12, 15)  # "today" when the January contract is entered: a month not yet begun
WEEKDAYS = Calendar.from_config({"hours": {d: ["08:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}})


def month_calls(first: datetime, tenant: str, base: int) -> list[CallRecord]:
    """Seven stays on the month's first Tuesday-ish day: every rule moves at least one figure."""
    day = first.replace(day=5 if first.month == 1 else 1)  # Tue 1 Dec 2026, Tue 5 Jan 2027
    at = lambda h, m=0: day.replace(hour=h, minute=m)  # noqa: E731
    a = Outcome.ANSWERED
    n = base
    return [
        stay(n + 1, at(9), a, wait=10, talk=60, tenant=tenant),
        stay(n + 2, at(9, 10), a, wait=25, talk=60, tenant=tenant),  # within 30 s, not within 20 s
        stay(n + 3, at(9, 20), Outcome.ABANDONED, wait=30, tenant=tenant),
        stay(n + 4, at(9, 30), Outcome.SHORT_ABANDON, wait=2, tenant=tenant),
        stay(n + 5, at(9, 40), Outcome.ABANDONED, wait=4, tenant=tenant),  # short by its wait (< 5 s), not < 3 s
        stay(n + 6, at(10), a, wait=8, talk=60, queue="intern", tenant=tenant),  # another queue
        stay(n + 7, at(22), a, wait=5, talk=60, tenant=tenant),  # outside weekday business hours
    ]


@pytest.fixture
async def db(db_url: str) -> Any:
    await migrate(db_url)
    database = Database(db_url)
    try:
        service = TenantService(database)
        await service.add(TENANT_A, name="Klinikum Nord")
        await service.add(TENANT_B, name="Klinikum Süd")
        records: list[CallRecord] = []
        for i, tenant in enumerate((TENANT_A, TENANT_B)):
            records += month_calls(DEC[0], tenant, 100 * i)
            records += month_calls(JAN[0], tenant, 100 * i + 50)
        await store_calls(database, records)
        yield database
    finally:
        await database.close()


async def counted(db: Database, tenant: str, period: tuple[datetime, datetime], **options: Any) -> kpi.CallKpis:
    """The figures by the SQL aggregates, proven equal to the streamed path and to kpi.py over the same stays."""
    got = await aggregates.call_kpis(db, tenant, *period, **options)
    assert got == await queries.call_kpis(db, tenant, *period, **options)
    start, end = period
    mine = [
        r
        for r in await queries_records(db)
        if r.tenant == tenant and start.timestamp() <= r.entered_at < end.timestamp()
    ]
    rules = options.get("rules")
    parts = (
        await contract.rules_by_period(db, tenant, start, end) if rules is None else [contract.Part(start, end, rules)]
    )
    calendar = options.get("calendar")
    assert got == kpi.call_kpis(mine, rules=parts, calendar=calendar)
    return got


async def queries_records(db: Database) -> list[CallRecord]:
    from uhd_telephony.calls.repository import CallRepository

    return await CallRepository(db).list_calls(limit=10_000)


def rules(**changes: Any) -> KpiRules:
    return KpiRules(valid_from=date(2026, 12, 1), **changes)


# ------------------------------------------------------------------------------------------------- each rule
async def test_the_standard_rules_count_as_before(db: Database) -> None:
    k = await counted(db, TENANT_A, DEC, calendar=None)
    # the stored "abandoned" after 4 s is a short abandon by its wait (threshold 5 s)
    assert (k.offered, k.answered, k.abandoned, k.short_abandons, k.base, k.service_level_base) == (7, 4, 1, 2, 5, 5)
    assert (k.reachability, k.service_level, k.abandon_rate) == (4 / 5, 3 / 5, 1 / 5)
    assert k.rules == (kpi.DEFAULT_RULES,) and k.service_level_s == 20 and k.not_under_contract == 0


async def test_service_level_threshold(db: Database) -> None:
    k = await counted(db, TENANT_A, DEC, calendar=None, rules=rules(service_level_s=30))
    assert (k.answered_within_service_level, k.service_level, k.service_level_s) == (4, 4 / 5, 30)
    assert k.reachability == 4 / 5  # only the service level moves


async def test_short_abandon_threshold_reclassifies_by_the_wait(db: Database) -> None:
    k = await counted(db, TENANT_A, DEC, calendar=None, rules=rules(short_abandon_s=3))
    assert (k.abandoned, k.short_abandons, k.base) == (2, 1, 6)
    assert k.outcomes["abandoned"] == 2 and k.outcomes["short_abandon"] == 1
    zero = await counted(db, TENANT_A, DEC, calendar=None, rules=rules(short_abandon_s=0))
    assert (zero.abandoned, zero.short_abandons, zero.base) == (3, 0, 7)


async def test_short_abandons_in_the_base(db: Database) -> None:
    k = await counted(db, TENANT_A, DEC, calendar=None, rules=rules(short_abandons_in_base=True))
    assert (k.short_abandons, k.abandoned, k.base, k.service_level_base) == (2, 1, 7, 7)
    assert (k.reachability, k.service_level, k.abandon_rate) == (4 / 7, 3 / 7, 1 / 7)


async def test_abandons_out_of_the_service_level(db: Database) -> None:
    k = await counted(db, TENANT_A, DEC, calendar=None, rules=rules(abandons_in_service_level=False))
    assert (k.base, k.service_level_base, k.service_level) == (5, 4, 3 / 4)
    assert (k.reachability, k.abandon_rate) == (4 / 5, 1 / 5)  # they keep the base
    both = await counted(
        db, TENANT_A, DEC, calendar=None, rules=rules(abandons_in_service_level=False, short_abandons_in_base=True)
    )
    assert (both.base, both.service_level_base) == (7, 6)


async def test_which_queues_count(db: Database) -> None:
    k = await counted(db, TENANT_A, DEC, calendar=None, rules=rules(queues=frozenset({"hotline"})))
    assert (k.offered, k.answered, k.not_under_contract, k.conversations) == (6, 3, 1, 6)
    assert k.reaction_time.count == 3 and 8.0 not in (k.reaction_time.median, k.reaction_time.p90)
    none = await counted(db, TENANT_A, DEC, calendar=None, rules=rules(queues=frozenset({"nowhere"})))
    assert (none.offered, none.not_under_contract, none.reachability) == (0, 7, None)


async def test_calls_outside_business_hours(db: Database) -> None:
    apart = await counted(db, TENANT_A, DEC, calendar=WEEKDAYS)
    assert (apart.offered, apart.outside_hours, apart.answered_outside_hours) == (6, 1, 1)
    k = await counted(db, TENANT_A, DEC, calendar=WEEKDAYS, rules=rules(outside_hours_count=True))
    assert (k.offered, k.outside_hours, k.answered, k.base) == (7, 0, 4, 5)
    assert sum(map(sum, k.outside_hours_by_weekday_hour)) == 0


# ------------------------------------------------------------------------------------------ a contract change
async def test_a_month_keeps_its_rules_after_a_change_and_the_report_prints_them(db: Database) -> None:
    before = await report.build(db, TENANT_A, "2026-12", locale="de")
    await set_contract(
        db, TENANT_A, {"valid_from": "2027-01-01", "service_level_s": 30, "short_abandons_in_base": True,
                       "reference": "Vertrag 2027 Anlage 3"},
        actor="admin", today=BEFORE_JANUARY,
    )  # fmt: skip
    december = await report.build(db, TENANT_A, "2026-12", locale="de")  # regenerated after the change
    assert december.calls == before.calls and december.calls.service_level == 3 / 5
    january = await report.build(db, TENANT_A, "2027-01", locale="de")
    assert january.calls.service_level == 4 / 7 and january.rules.service_level_s == 30
    # printed in words, in every format
    text = january.rules_text()
    assert "angenommen innerhalb von 30 Sek." in text and "Kurzabbrecher (unter 5 Sek. Wartezeit) in der" in text
    assert "Vertrag 2027 Anlage 3" in text and "01.01.2027" in text
    html = await report.render(january, "html")
    assert 'id="kpi-rules"' in html and "innerhalb von 30 Sek." in html
    assert "(angeboten)" not in html and "÷ angeboten" in html  # the definitions follow the contract
    assert text in await report.render(january, "csv")
    body = json.loads(await report.render(january, "json"))
    assert body["kpi_rules"]["service_level_s"] == 30 and body["kpi_rules_text"] == text
    assert "innerhalb von 20 Sek." in december.rules_text() and "kein Vertrag" in december.rules_text()
    # a period across the change: each part by its rules, summed
    both = await counted(db, TENANT_A, (DEC[0], JAN[1]))
    assert len(both.rules) == 2 and both.service_level_s is None
    assert (both.base, both.answered_within_service_level) == (5 + 7, 3 + 4)
    assert both.service_level == (3 + 4) / (5 + 7)  # ratios from the summed counts, not a mean of months
    # tenant isolation: B has the same calls and no contract
    other = await counted(db, TENANT_B, JAN)
    assert other.rules == (kpi.DEFAULT_RULES,) and other.service_level == 3 / 5


async def test_live_counters_the_api_and_the_report_agree_under_a_contract(db: Database) -> None:
    terms = {
        "valid_from": "2027-01-01",
        "service_level_s": 30,
        "short_abandon_s": 3,
        "abandons_in_service_level": False,
        "queues": ["hotline"],
    }
    await set_contract(db, TENANT_A, terms, actor="admin", today=BEFORE_JANUARY)
    built = await report.build(db, TENANT_A, "2027-01")
    figures = built.calls
    counters = CallCounters(schedules=await contract.schedules(db))
    for record in await queries_records(db):
        counters(CallEnded(record, record.entered_at + 60))
    a = {q: c for (t, q), c in counters.queues.items() if t == TENANT_A}
    live_offered = sum(c.offered for c in a.values())
    live_base = live_offered - sum(c.excluded_from_base for c in a.values())
    live_sl_base = live_offered - sum(c.excluded_from_service_level for c in a.values())
    within = sum(c.answered_within_service_level for c in a.values())
    # the live counters hold both months: December by the standard rules, January by the contract
    dec = await counted(db, TENANT_A, DEC)
    assert live_offered == dec.offered + figures.offered
    assert live_base == dec.base + figures.base
    assert live_sl_base == dec.service_level_base + figures.service_level_base
    assert within == dec.answered_within_service_level + figures.answered_within_service_level
    assert a["intern"].not_under_contract == figures.not_under_contract == 1
    assert sum(c.abandoned for c in a.values()) == dec.abandoned + figures.abandoned
    # the API's default view is the report's
    api = await aggregates.call_kpis(db, TENANT_A, *JAN)
    assert api == figures and api.to_dict()["rules"][0]["queues"] == ["hotline"]
    # B's live counters know no contract
    b = [c for (t, _), c in counters.queues.items() if t == TENANT_B]
    assert sum(c.not_under_contract for c in b) == 0 and sum(c.short_abandoned for c in b) == 4


# ------------------------------------------------------------------------------------------------ setting them
async def test_setting_is_audited_history_kept_and_a_begun_month_needs_force(db: Database) -> None:
    done = await set_contract(db, TENANT_A, {"valid_from": "2027-01-01", "service_level_s": 30}, actor="ada",
                              today=BEFORE_JANUARY)  # fmt: skip
    assert done.in_force == kpi.DEFAULT_RULES and done.history[0].service_level_s == 30
    with pytest.raises(InvalidInput, match="already begun"):
        await set_contract(db, TENANT_A, {"valid_from": "2026-12-01"}, actor="ada", today=BEFORE_JANUARY)
    forced = await set_contract(db, TENANT_A, {"valid_from": "2026-12-01", "service_level_s": 15}, actor="ada",
                                force=True, today=BEFORE_JANUARY)  # fmt: skip
    assert forced.in_force.service_level_s == 15 and [r.valid_from for r in forced.history] == [
        date(2027, 1, 1),
        date(2026, 12, 1),
    ]
    # the same terms again record nothing
    await set_contract(db, TENANT_A, {"valid_from": "2027-01-01", "service_level_s": 30}, actor="ada",
                       today=BEFORE_JANUARY)  # fmt: skip
    async with db.sessionmaker() as session:
        entries = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "kpi_contract")))
    assert len(entries) == 2 and {e.tenant for e in entries} == {TENANT_A}
    assert [e.details["forced"] for e in sorted(entries, key=lambda e: e.id)] == [False, True]
    assert (await contract.schedule_of(db, TENANT_B)) == ()  # isolation
    with pytest.raises(NotFound):
        await set_contract(db, "nobody", {"valid_from": "2027-01-01"}, actor="ada", today=BEFORE_JANUARY)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"valid_from": "2027-01-15"}, "valid_from"),
        ({"valid_from": "2027-13-01"}, "valid_from"),
        ({"valid_from": 20270101}, "valid_from"),
        ({"valid_from": "1999-12-01"}, "valid_from"),
        ({}, "valid_from"),
        ({"valid_from": "2027-01-01", "service_level_s": -1}, "service_level_s"),
        ({"valid_from": "2027-01-01", "service_level_s": 0}, "service_level_s"),
        ({"valid_from": "2027-01-01", "service_level_s": math.nan}, "service_level_s"),
        ({"valid_from": "2027-01-01", "service_level_s": "20"}, "service_level_s"),
        ({"valid_from": "2027-01-01", "service_level_s": True}, "service_level_s"),
        ({"valid_from": "2027-01-01", "service_level_s": 1e308}, "service_level_s"),
        ({"valid_from": "2027-01-01", "short_abandon_s": -0.5}, "short_abandon_s"),
        ({"valid_from": "2027-01-01", "callback_window_s": -1}, "callback_window_s"),
        ({"valid_from": "2027-01-01", "short_abandons_in_base": "yes"}, "short_abandons_in_base"),
        ({"valid_from": "2027-01-01", "queues": "hotline"}, "queues"),
        ({"valid_from": "2027-01-01", "queues": []}, "queues"),
        ({"valid_from": "2027-01-01", "queues": [1]}, "queues"),
        ({"valid_from": "2027-01-01", "queues": ["x" * 129]}, "queues"),
        ({"valid_from": "2027-01-01", "queues": ["a\x00b"]}, "queues"),
        ({"valid_from": "2027-01-01", "queues": [f"q{i}" for i in range(201)]}, "queues"),
        ({"valid_from": "2027-01-01", "reference": "x" * 100_000}, "reference"),
        ({"valid_from": "2027-01-01", "reference": "a\nb"}, "reference"),
        ({"valid_from": "2027-01-01", "t": 30}, "t"),
    ],
)
def test_hostile_input_is_rejected_naming_the_field(values: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_rules(values)
    assert caught.value.details["field"] == field


def test_a_contract_month_begins_at_midnight_in_berlin() -> None:
    january = rules(service_level_s=30).__class__(valid_from=date(2027, 1, 1), service_level_s=30)
    parts = contract.split((january,), DEC[0], JAN[1])
    assert [(p.start, p.end, p.rules.service_level_s) for p in parts] == [(DEC[0], JAN[0], 20), (JAN[0], JAN[1], 30)]
    assert contract.rules_at((january,), contract.berlin_day(JAN[0].timestamp() - 0.001)) == kpi.DEFAULT_RULES
    assert contract.rules_at((january,), contract.berlin_day(JAN[0].timestamp())) is january
