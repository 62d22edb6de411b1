"""The proof the issue asks for: every figure of the monthly report of past months is exactly as before after the
retention scanner ran with the shortest periods allowed, and after erasures (SQLite and PostgreSQL).

Months of calls (answered, abandoned, transfers with their shared linkedid) and tickets (repeat callers as a
directory user, as a number, a shared phone's place; ratings with comments; incident subscriptions) are built, each
past month's report computed (``metrics.report.build`` → ``to_json``), the data protection applied, the reports
computed again. What may change is only what names people: a repeat caller's name and department (now the
pseudonym, masked), a comment's text (now empty) — ``figures()`` sets exactly those aside, and the test checks
that they did change.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from tests.privacy.rows import NOW, World
from tests.support.webapp import TENANT_A, TENANT_B
from uhd_telephony.directory.models import USERS
from uhd_telephony.metrics import report
from uhd_telephony.privacy.classes import CLASSES
from uhd_telephony.privacy.periods import Periods
from uhd_telephony.privacy.person import selector
from uhd_telephony.privacy.retention import Retention
from uhd_telephony.privacy.service import PersonData
from uhd_telephony.tickets.categories import categories

MONTHS = ("2026-07", "2026-08", "2026-09", "2026-10", "2026-11")
PERSONAL = {"caller", "department", "kind", "comment"}


def figures(body: dict[str, Any]) -> dict[str, Any]:
    """The report without the words that name people (and the repeat callers in an order that does not depend
    on them)."""
    out = copy.deepcopy(body)
    callers = out["recurring_problems"]["repeat_callers"]
    for caller in callers:
        for key in PERSONAL & caller.keys():
            caller[key] = "•"
    callers.sort(key=lambda c: (c["tickets"], c["first_at"], c["ticket_numbers"]))
    for comment in out["satisfaction"]["comments"]:
        comment["comment"] = "•"
    return out


async def reports(world: World, tenant: str = TENANT_A) -> dict[str, dict[str, Any]]:
    return {m: report.to_json(await report.build(world.db, tenant, m, now=NOW)) for m in MONTHS}


async def build_months(world: World) -> int:
    """Calls and tickets from July to November of both tenants; returns Dr. Müller's directory user id (A)."""
    async with world.db.engine.connect() as conn:
        ids = select(USERS.c.id).where(USERS.c.tenant == TENANT_A, USERS.c.external_id == "P-10001")
        mueller = (await conn.execute(ids)).scalar_one()
        category = {t: (await conn.execute(select(categories.c.id).where(categories.c.tenant == t,
                                                                          categories.c.parent_id.is_(None))
                                           .order_by(categories.c.id).limit(1))).scalar_one()
                    for t in (TENANT_A, TENANT_B)}  # fmt: skip
    start = datetime(2026, 6, 20, 7, 0, tzinfo=UTC)
    numbers = ["+492214711", "02319860572", "+4930123456", "4711", "anonymous"]
    for day in range(0, 165, 3):
        at = start + timedelta(days=day, hours=day % 9)
        for tenant in (TENANT_A, TENANT_B):
            n = day // 3
            number = numbers[n % len(numbers)]
            await world.call(tenant, at, number=number, outcome="answered", wait_s=float(n % 40))
            await world.call(tenant, at + timedelta(minutes=5), number=number, outcome="abandoned", answered_at=None,
                             wait_s=35.0, talk_s=None)  # fmt: skip
            first = await world.call(tenant, at + timedelta(minutes=9), number=number, outcome="transferred")
            await world.call(tenant, at + timedelta(minutes=11), number=number, linkedid=f"l{first}",
                             queue="second-level")  # fmt: skip
            # Dr. Müller and Ilse stop calling in September: the scanner reaches them; Hans calls on
            kinds = [
                ({"user_id": mueller, "name": "Dr. Jürgen Müller", "number": "+492319860572",
                  "email": "juergen.mueller@klinikum-nord.example"}, 100),
                ({"number": "+4930123456", "name": "Hans Anrufer"}, 999),
                ({"number": "+4930999", "name": "Ilse Selten", "email": "ilse@example.org"}, 80),
                ({"number": "", "name": "Mia Mail", "email": "mia@example.org"}, 60),
            ]  # fmt: skip
            kinds = [who for who, until in kinds if day < until]
            for who in kinds:
                ticket = await world.ticket(tenant, at + timedelta(minutes=20), **who)
                async with world.db.engine.begin() as conn:
                    await conn.execute(categories_update(ticket, category[tenant]))
            if n % 4 == 0:
                await world.rating(tenant, at + timedelta(hours=2), ticket, comment=f"Danke, {who['name']}")
                await world.subscription(tenant, at, number="+4930123456")
    return int(mueller)


def categories_update(ticket_id: int, category_id: int) -> Any:
    from uhd_telephony.tickets.view import tickets

    return tickets.update().where(tickets.c.id == ticket_id).values(category_id=category_id, priority=3)


async def test_the_scanner_and_erasures_leave_every_figure_of_past_months(world: World) -> None:
    mueller = await build_months(world)
    before = await reports(world)
    assert sum(len(b["recurring_problems"]["repeat_callers"]) for b in before.values()) > 5  # the groups exist
    assert any(b["satisfaction"]["comments"] for b in before.values())
    periods = Periods(world.db)
    for cls in CLASSES:  # the shortest periods allowed
        await periods.set(TENANT_A, cls.code, cls.minimum_days, "test")
    went = await Retention(world.db, clock=lambda: NOW).apply([TENANT_A])
    changed = {d.data_class.code for d in went if d.count}
    assert changed >= {"call_numbers", "ticket_requesters", "satisfaction_comments", "incident_subscriptions"}
    after = await reports(world)
    for month in MONTHS:
        assert figures(after[month]) == figures(before[month]), month
    callers = [c["caller"] for b in after.values() for c in b["recurring_problems"]["repeat_callers"]]
    assert not any("Müller" in c or "4711" in c for c in callers)
    assert all(c["comment"] == "" for b in after.values() for c in b["satisfaction"]["comments"])
    # erasures of people the scanner had not reached (tenant B: the default periods), then the figures again
    before_b = await reports(world, TENANT_B)
    persons = PersonData(world.db)
    await persons.erase(TENANT_B, selector(email="juergen.mueller@klinikum-nord.example"), actor="test")
    await persons.erase(TENANT_B, selector(number="030 123456"), actor="test")
    after_b = await reports(world, TENANT_B)
    for month in MONTHS:
        assert figures(after_b[month]) == figures(before_b[month]), month
    assert after_b != before_b  # the names did go
    assert await reports(world) == after  # tenant A untouched by B's erasures
    assert mueller
