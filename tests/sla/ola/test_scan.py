"""A support group's own targets (OLA) on SQLite and PostgreSQL: its clock starts when a ticket is routed to it,
stands still while the ticket waits on the caller, stops when the ticket is routed away; each warning and breach
fires once, to the group (in its language) and the helpdesk's lead, recorded apart from the ticket's SLA; the
scanner fires them in bulk, a page per transaction, and two scanners never fire one twice."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any

import pytest
from sqlalchemy import event, func, select

from tests.outbox.sinks import Clock
from tests.sla.conftest import AGENT, API, MONDAY_9, TENANT, berlin
from tests.sla.ola.conftest import NO_OLA, PARTNER, PARTNER_MAIL, SECOND, SECOND_MAIL, OlaWorld, ola_data
from tests.support.sla_data import MANAGEMENT, TEAM_LEAD
from uhd_telephony.i18n import format_datetime
from uhd_telephony.outbox.models import outbox
from uhd_telephony.sla.models import escalations, ola_escalations, ola_timers
from uhd_telephony.sla.ola_escalation import OlaScanner
from uhd_telephony.sla.ola_policy import import_ola
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.groups import import_groups
from uhd_telephony.tickets.history import history
from uhd_telephony.tickets.history_text import context, with_text

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


async def _mails(db: Database) -> list[dict[str, Any]]:
    stmt = select(outbox).where(outbox.c.dedupe_key.like("ola-escalation:%")).order_by(outbox.c.id)
    async with db.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def _count(db: Database, stmt: Any) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())


async def test_the_clock_starts_at_routing_pauses_with_the_sla_and_stops_at_a_reroute(ola: OlaWorld) -> None:
    w = ola.w
    ticket = await w.ticket()
    assert await ola.due(ticket.id) is None  # created at 1st level: no group's clock runs
    await ola.route(ticket.id, PARTNER, MONDAY_9)
    assert await ola.due(ticket.id) == berlin(2026, 3, 2, 9, 45)  # 75 % of the 1 h response target
    # waiting on the caller from 09:30 to 10:00: the group's clock stands still as the ticket's SLA does
    w.at(berlin(2026, 3, 2, 9, 30))
    await w.move(ticket.id, "in_progress")  # by the interface: no response of the group
    await w.move(ticket.id, "waiting", "Rückfrage beim Anrufer")
    assert await ola.due(ticket.id) is None
    w.at(berlin(2026, 3, 2, 10, 0))
    await w.move(ticket.id, "in_progress")
    assert await ola.due(ticket.id) == berlin(2026, 3, 2, 10, 15)

    assert await ola.scan(berlin(2026, 3, 2, 10, 14)) == 0
    assert await ola.scan(berlin(2026, 3, 2, 10, 15)) == 1
    assert await ola.scan(berlin(2026, 3, 2, 10, 20)) == 0  # once
    assert await ola.scan(berlin(2026, 3, 2, 10, 30)) == 1  # the response breach
    # another partner's comment is no response of Medisoft's; its own account's is
    w.at(berlin(2026, 3, 2, 10, 35))
    await w.workflow.comment(TENANT, ticket.id, text="Nicht unser Ticket", public=False, actor=ola.stranger)
    w.at(berlin(2026, 3, 2, 10, 40))
    await w.workflow.comment(TENANT, ticket.id, text="We are on it.", public=True, actor=ola.partner)
    # resolution: 75 % of 4 h of business time on the clock, 30 minutes of waiting later
    assert await ola.scan(berlin(2026, 3, 2, 12, 29)) == 0
    assert await ola.scan(berlin(2026, 3, 2, 12, 30)) == 1
    # routed on to 2nd level at 12:45: Medisoft's clock stops (its breach at 13:30 never fires), 2nd level's starts
    await ola.route(ticket.id, SECOND, berlin(2026, 3, 2, 12, 45))
    assert await ola.due(ticket.id) == berlin(2026, 3, 2, 13, 7, 30)
    # after 13:15 the 2nd level's response breach alone goes out (its warning is moot by then)
    assert await ola.scan(berlin(2026, 3, 2, 13, 40)) == 1
    assert await ola.fired(ticket.id) == [
        (PARTNER, "response", "warning"), (PARTNER, "response", "breach"), (PARTNER, "resolution", "warning"),
        (SECOND, "response", "breach"),
    ]  # fmt: skip
    assert await ola.due(ticket.id) == berlin(2026, 3, 2, 14, 15)  # 2nd level's resolution warning (1 h 30 min)
    # resolved while with 2nd level: its clock stops, nothing more is due
    w.at(berlin(2026, 3, 2, 14, 0))
    await w.move(ticket.id, "resolved", "Treiber getauscht", actor=AGENT)
    assert await ola.due(ticket.id) is None
    assert await ola.scan(berlin(2026, 3, 3, 12, 0)) == 0
    # kept apart from the ticket's SLA: no escalation of its own, its history names the OLA
    assert await _count(w.db, select(func.count()).select_from(escalations)) == 0
    rows = await w.history(ticket.id, "ola")
    assert [(r["field"], r["new_value"]) for r in rows] == [
        (PARTNER, "response warning"), (PARTNER, "response breach"), (PARTNER, "resolution warning"),
        (SECOND, "response breach"),
    ]  # fmt: skip
    async with w.db.engine.connect() as conn:
        entries = [{k: r[k] for k in ("id", "at", "actor", "action", "field", "old_value", "new_value", "note")}
                   for r in rows]  # fmt: skip
        words = await context(conn, TENANT, "de", entries)
    text = with_text(entries, words)[0]["text"]
    assert text.startswith("System: OLA-Warnung (Reaktionszeit) von Medisoft: fällig 02.03.2026, 10:15"), text
    assert "Medisoft (E-Mail)" in text and "Teamleitung (E-Mail)" in text and "partner:" not in text


async def test_warning_and_breach_go_to_the_group_in_its_language_and_to_the_lead(ola: OlaWorld) -> None:
    w = ola.w
    ticket = await w.ticket(subject="Laborschnittstelle hängt")
    await ola.route(ticket.id, PARTNER, MONDAY_9)
    assert await ola.scan(berlin(2026, 3, 2, 9, 45)) == 1
    mails = await _mails(w.db)
    assert sorted(m["target"] for m in mails) == sorted([PARTNER_MAIL, TEAM_LEAD])  # not management (level 2)
    by = {m["target"]: m for m in mails}
    assert by[PARTNER_MAIL]["subject"] == f"[{ticket.number}] OLA warning: 75% of the response time of Medisoft used"
    assert by[TEAM_LEAD]["subject"] == (
        f"[{ticket.number}] OLA-Warnung: 75 % der Reaktionszeit von Medisoft verbraucht"
    )
    text = by[TEAM_LEAD]["body"]["text"]
    assert "Weitergeleitet an Medisoft: 02.03.2026, 09:00" in text and "Fällig: 02.03.2026, 09:45" in text
    assert "Mo. 08:00–17:00" in text and not re.search(r"\d{2}:\d{2}:\d{2}", text)
    english = by[PARTNER_MAIL]["body"]["text"]
    assert f"Routed to Medisoft: {format_datetime(MONDAY_9, 'en')}" in english, english
    assert all(m["ticket_id"] == ticket.id and m["status"] == "pending" for m in mails)
    # the breach goes to the lead of the breach level the OLA file names: here management
    await import_ola(w.db, TENANT, ola_data(levels={"warning": 1, "breach": 2}), now=MONDAY_9)
    assert await ola.scan(berlin(2026, 3, 2, 10, 0)) == 1
    breach = [m for m in await _mails(w.db) if m["id"] > max(m["id"] for m in mails)]
    assert sorted(m["target"] for m in breach) == sorted([PARTNER_MAIL, MANAGEMENT])


async def test_a_group_webhook_gets_the_ola_json(ola: OlaWorld) -> None:
    w = ola.w
    hook = {"url": "https://hooks.klinik-it.example/ola", "secret": SECRET}
    await import_groups(w.db, TENANT, [{"code": SECOND, "name": "2nd Level", "mail": [SECOND_MAIL], "webhook": hook}])
    ticket = await w.ticket()
    await ola.route(ticket.id, SECOND, MONDAY_9)
    assert await ola.scan(berlin(2026, 3, 2, 9, 30)) == 1  # at 09:30 the response breach alone
    hook = next(m for m in await _mails(w.db) if m["channel"] == "webhook")
    body = hook["body"] if isinstance(hook["body"], dict) else json.loads(hook["body"])
    assert body["type"] == "ticket.ola_escalated" and body["data"]["ticket"]["number"] == ticket.number
    o = body["data"]["ola"]
    assert (o["group"], o["kind"], o["target"], o["target_s"], o["level"]) == (SECOND, "breach", "response", 1800, 1)
    assert o["routed_at"] == "2026-03-02T08:00:00.000Z" and o["due_at"] == "2026-03-02T08:30:00.000Z"


async def test_a_group_without_an_ola_and_a_tenant_without_any_start_no_clock(ola: OlaWorld) -> None:
    w = ola.w
    ticket = await w.ticket()
    await ola.route(ticket.id, NO_OLA, MONDAY_9)
    other = await w.ticket(tenant="klinikum-sued")
    await ola.route(other.id, PARTNER, MONDAY_9, tenant="klinikum-sued")  # its own Medisoft: no OLA there
    assert await ola.due(ticket.id) is None and await ola.due(other.id) is None
    assert await ola.scan(berlin(2026, 3, 9, 9, 0)) == 0 and await ola.fired() == []


async def test_a_routing_back_to_the_group_starts_a_new_clock(ola: OlaWorld) -> None:
    w = ola.w
    ticket = await w.ticket()
    await ola.route(ticket.id, PARTNER, MONDAY_9)
    assert await ola.scan(berlin(2026, 3, 2, 9, 45)) == 1
    await ola.route(ticket.id, SECOND, berlin(2026, 3, 2, 9, 50))
    await ola.route(ticket.id, PARTNER, berlin(2026, 3, 2, 10, 0))
    # a new routing of the same group: its warning fires again, for this routing
    assert await ola.due(ticket.id) == berlin(2026, 3, 2, 10, 45)
    assert await ola.scan(berlin(2026, 3, 2, 10, 45)) == 1
    async with w.db.engine.connect() as conn:
        routings = {r.routed_id for r in await conn.execute(select(ola_escalations.c.routed_id))}
    assert len(routings) == 2 and await ola.fired(ticket.id) == [(PARTNER, "response", "warning")] * 2


# -- in bulk ------------------------------------------------------------------------------------------------------


async def test_due_tickets_fire_in_bulk_once_each_a_page_a_handful_of_statements(ola: OlaWorld) -> None:
    w = ola.w
    made = [await w.ticket(subject=f"Störung {n}") for n in range(25)]
    for ticket in made:
        await ola.route(ticket.id, PARTNER, MONDAY_9)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split())[:60])

    scanner = OlaScanner(w.db, clock=lambda: berlin(2026, 3, 2, 9, 50), batch_size=10)
    event.listen(w.db.engine.sync_engine, "before_cursor_execute", record)
    try:
        assert await scanner.scan_once() == 25
    finally:
        event.remove(w.db.engine.sync_engine, "before_cursor_execute", record)
    # per page (3): the due query, the claim, the tickets, the OLAs' stamp, the history rows, the partner accounts,
    # the escalations so far, the escalation rows, the names (categories, groups, tenants), the history rows, the
    # outbox rows, the timers; the OLAs with their contacts and the SLA once per scan; the last due query
    assert len(statements) <= 3 * 14 + 12 + 1, statements
    assert sum(s.startswith("SELECT ola_policies") for s in statements) == 1, statements
    assert await _count(w.db, select(func.count()).select_from(ola_escalations)) == 25
    assert len(await _mails(w.db)) == 50  # Medisoft and the team lead, each once per ticket
    assert await _count(w.db, select(func.count()).where(history.c.action == "ola")) == 25
    assert await scanner.scan_once() == 0


async def test_two_scanners_over_the_same_due_set_fire_each_escalation_once(ola: OlaWorld) -> None:
    w = ola.w
    for n in range(30):
        ticket = await w.ticket(subject=f"Störung {n}")
        await ola.route(ticket.id, PARTNER, MONDAY_9)
    moment = berlin(2026, 3, 2, 9, 50)
    async with Database(w.url) as other:
        scanners = [OlaScanner(db, clock=Clock(moment), batch_size=7) for db in (w.db, other)]
        counts = await asyncio.gather(*(s.scan_once() for s in scanners))
    assert sum(counts) == 30
    assert await _count(w.db, select(func.count()).select_from(ola_escalations)) == 30
    assert len(await _mails(w.db)) == 60
    due = select(func.count()).where(ola_timers.c.next_due_at <= moment)
    assert await _count(w.db, due) == 0


async def test_an_ola_import_rearms_the_open_tickets(ola: OlaWorld) -> None:
    w = ola.w
    ticket = await w.ticket()
    await ola.route(ticket.id, PARTNER, MONDAY_9)
    assert await ola.due(ticket.id) == berlin(2026, 3, 2, 9, 45)
    # a tighter response target: the scanner recomputes within one scan and fires what is due under it
    tighter = {"groups": {PARTNER: {"policies": {3: {"response": "20m", "resolution": "4h"}}}},
               "calendar": {"always": True}}  # fmt: skip
    result = await import_ola(w.db, TENANT, tighter, now=berlin(2026, 3, 2, 9, 10))
    assert result.to_dict() == {"tenant": TENANT, "groups": 1, "policies": 1, "armed": 1}
    assert await ola.scan(berlin(2026, 3, 2, 9, 16)) == 1
    assert await ola.fired(ticket.id) == [(PARTNER, "response", "warning")]
    assert await ola.due(ticket.id) == berlin(2026, 3, 2, 9, 20)


@pytest.mark.parametrize("actor", [API, AGENT])
async def test_the_helpdesks_own_group_is_answered_by_any_agent(ola: OlaWorld, actor: str) -> None:
    w = ola.w
    ticket = await w.ticket()
    await ola.route(ticket.id, SECOND, MONDAY_9)
    w.at(berlin(2026, 3, 2, 9, 10))
    await w.workflow.comment(TENANT, ticket.id, text="Schaue ich mir an", public=False, actor=actor)
    # an agent's comment is 2nd level's response; the interface's is not
    fired = await ola.scan(berlin(2026, 3, 2, 9, 40))
    assert await ola.fired(ticket.id) == ([] if actor == AGENT else [(SECOND, "response", "breach")])
    assert fired == (0 if actor == AGENT else 1)
