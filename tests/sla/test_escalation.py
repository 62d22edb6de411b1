"""Escalation with an injected clock, on SQLite and PostgreSQL: warnings and breaches fire at the instants the
business calendar gives, once; waiting pauses the clock; resolving in time sends nothing; a restart fires what
became overdue meanwhile, once."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from sqlalchemy import select, text

from tests.sla.conftest import AGENT, API, MONDAY_9, OTHER, TENANT, World, berlin
from tests.support.sla_data import KIS_LEAD, MANAGEMENT, TEAM_LEAD, sla_data
from uhd_telephony.metrics import report
from uhd_telephony.metrics.sla import sla_facts, sla_kpis
from uhd_telephony.sla.escalation import SlaScanner
from uhd_telephony.sla.models import sla_timers
from uhd_telephony.sla.policy import import_sla
from uhd_telephony.sla.timers import schedule
from uhd_telephony.store.db import Database
from uhd_telephony.store.migrate import migrate
from uhd_telephony.tickets.requester import Requester


def _mails(rows: list[dict]) -> list[tuple[str, str]]:
    """(recipient, warning|breach) of the escalation mails in the outbox, in order."""
    out = []
    for row in rows:
        if row["dedupe_key"].startswith("escalation:") and row["channel"] == "mail":
            out.append((row["target"], "warning" if "Warnung" in row["subject"] else "breach"))
    return out


async def test_a_ticket_crosses_warning_and_breach_inside_business_hours(world: World) -> None:
    ticket = await world.ticket()  # Monday 09:00, unclassified: priority 3's targets (response 2 h, resolution 8 h)
    assert await world.due(ticket.id) == berlin(2026, 3, 2, 10, 30)  # 75 % of 2 h
    assert await world.scan(berlin(2026, 3, 2, 10, 29, 59)) == 0
    assert await world.scan(berlin(2026, 3, 2, 10, 30)) == 1
    assert await world.fired(ticket.id) == [("response", "warning")]
    assert await world.scan(berlin(2026, 3, 2, 10, 45)) == 0  # once
    assert await world.due(ticket.id) == berlin(2026, 3, 2, 11, 0)
    assert await world.scan(berlin(2026, 3, 2, 11, 0)) == 1
    world.at(berlin(2026, 3, 2, 11, 30))
    await world.workflow.comment(TENANT, ticket.id, text="Wir kümmern uns.", public=True, actor=AGENT)  # responded
    assert await world.scan(berlin(2026, 3, 2, 14, 59)) == 0
    assert await world.scan(berlin(2026, 3, 2, 15, 0)) == 1  # 6 h of 8 h
    assert await world.scan(berlin(2026, 3, 2, 17, 0)) == 1  # the end of the business day is the 8th hour
    assert await world.scan(berlin(2026, 3, 9, 17, 0)) == 0
    assert await world.due(ticket.id) is None

    found = await world.escalations(ticket.id)
    assert [(e["target"], e["kind"], e["level"]) for e in found] == [
        ("response", "warning", 1), ("response", "breach", 2), ("resolution", "warning", 1),
        ("resolution", "breach", 2),
    ]  # fmt: skip
    assert [e["due_at"] for e in found] == [
        berlin(2026, 3, 2, 10, 30), berlin(2026, 3, 2, 11, 0), berlin(2026, 3, 2, 15, 0), berlin(2026, 3, 2, 17, 0)
    ]  # fmt: skip
    assert all(e["de_escalated_at"] is None and e["priority"] is None for e in found)
    assert _mails(await world.outbox()) == [
        (TEAM_LEAD, "warning"), (MANAGEMENT, "breach"), (TEAM_LEAD, "warning"), (MANAGEMENT, "breach")
    ]  # fmt: skip
    rows = await world.history(ticket.id, "escalated")
    assert [(r["actor"], r["field"], r["new_value"]) for r in rows] == [
        ("system", "sla", "response warning"), ("system", "sla", "response breach"),
        ("system", "sla", "resolution warning"), ("system", "sla", "resolution breach"),
    ]  # fmt: skip
    assert "level 1 notified: Teamleitung (mail)" in rows[0]["note"]
    mail = (await world.outbox())[0]
    # (a subject is one line of plain spaces: the outbox folds the no-break space of "75 %")
    assert mail["subject"].startswith(f"[{ticket.number}] SLA-Warnung: 75 % der Reaktionszeit verbraucht")
    # German, in words, in Berlin time: no raw status, priority or ISO instant
    text = mail["body"]["text"]
    assert "Fällig: 02.03.2026, 10:30" in text and "Status: Neu, Gruppe: 1st-Level-Support" in text
    assert "Ziel: 2 Std. (Mo. 08:00–17:00" in text or "Ziel: 2 Std." in text
    assert not re.search(r"\d{2}:\d{2}:\d{2}(\.\d+)?Z", text) and "status: new" not in text


async def test_the_clock_stops_over_the_weekend(world: World) -> None:
    world.at(berlin(2026, 3, 6, 15, 0))  # Friday 15:00
    ticket = await world.ticket()
    await world.respond(ticket.id)  # at once
    # 8 h of business time: Friday 15-17 (2 h), Monday 08:00 + 6 h
    assert await world.due(ticket.id) == berlin(2026, 3, 9, 12, 0)  # the warning: 2 h + 4 h
    assert await world.scan(berlin(2026, 3, 7, 12, 0)) == 0  # Saturday
    assert await world.scan(berlin(2026, 3, 9, 11, 59)) == 0
    assert await world.scan(berlin(2026, 3, 9, 12, 0)) == 1
    assert await world.due(ticket.id) == berlin(2026, 3, 9, 14, 0)
    assert await world.scan(berlin(2026, 3, 9, 14, 0)) == 1
    assert await world.fired(ticket.id) == [("resolution", "warning"), ("resolution", "breach")]


async def test_a_public_holiday_of_the_tenants_state_is_no_business_day(world: World) -> None:
    # Corpus Christi, Thursday 4 June 2026: a holiday in North Rhine-Westphalia, a working day in Berlin
    await import_sla(world.db, OTHER, sla_data(calendar={
        "hours": {day: ["08:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}, "holidays": {"state": "BE"},
    }))  # fmt: skip
    world.at(berlin(2026, 6, 3, 15, 0))  # Wednesday 15:00
    nw = await world.ticket()
    berlin_ticket = await world.ticket(tenant=OTHER)
    for ticket, tenant in ((nw, TENANT), (berlin_ticket, OTHER)):
        await world.respond(ticket.id, tenant=tenant)
    assert await world.due(nw.id) == berlin(2026, 6, 5, 12, 0)  # Wednesday 2 h, Thursday closed, Friday 4 h
    assert await world.due(berlin_ticket.id) == berlin(2026, 6, 4, 12, 0)  # Wednesday 2 h, Thursday 4 h
    assert await world.scan(berlin(2026, 6, 4, 12, 0)) == 1  # Berlin's warning
    assert await world.scan(berlin(2026, 6, 4, 14, 0)) == 1  # and breach, on the holiday of NW
    assert await world.fired(berlin_ticket.id) == [("resolution", "warning"), ("resolution", "breach")]
    assert await world.fired(nw.id) == []
    assert await world.scan(berlin(2026, 6, 5, 12, 0)) == 1
    assert await world.scan(berlin(2026, 6, 5, 14, 0)) == 1
    assert [e["due_at"] for e in await world.escalations(nw.id)] == [berlin(2026, 6, 5, 12), berlin(2026, 6, 5, 14)]


async def test_waiting_on_the_caller_pauses_the_clock_and_moves_the_due_time_by_the_paused_span(
    world: World,
) -> None:
    ticket = await world.ticket()  # Monday 09:00
    await world.respond(ticket.id)  # at 09:00
    assert await world.due(ticket.id) == berlin(2026, 3, 2, 15, 0)  # the resolution warning at 6 h
    world.at(berlin(2026, 3, 2, 10, 0))
    await world.move(ticket.id, "waiting", "Rückruf der Station abwarten", actor=AGENT)
    assert await world.due(ticket.id) is None  # the clock stands: nothing can become due
    assert await world.scan(berlin(2026, 3, 2, 16, 0)) == 0
    world.at(berlin(2026, 3, 2, 12, 0))
    await world.move(ticket.id, "in_progress", actor=AGENT)
    assert await world.due(ticket.id) == berlin(2026, 3, 2, 17, 0)  # 15:00 + the 2 h waited
    assert await world.scan(berlin(2026, 3, 2, 17, 0)) == 1
    # the breach: 17:00 + 2 h, across the night: Tuesday 10:00
    assert await world.due(ticket.id) == berlin(2026, 3, 3, 10, 0)
    notes = [r["note"] for r in await world.history(ticket.id, "status")]
    assert notes[1].startswith("SLA clock paused") and notes[2] == "SLA clock resumed after 7200 s waiting"


async def test_a_first_response_written_with_a_status_change_is_corrected_by_the_scanner(world: World) -> None:
    ticket = await world.ticket()
    await world.move(ticket.id, "in_progress", actor=AGENT)  # the response is recorded after this write's history
    assert await world.due(ticket.id) == berlin(2026, 3, 2, 10, 30)  # early, never late: the response warning
    assert await world.scan(berlin(2026, 3, 2, 10, 30)) == 0  # recomputed before firing: responded, nothing due
    assert await world.due(ticket.id) == berlin(2026, 3, 2, 15, 0)
    assert await world.outbox() == []


async def test_a_ticket_resolved_before_the_warning_sends_nothing(world: World) -> None:
    ticket = await world.ticket()
    world.at(berlin(2026, 3, 2, 10, 0))
    await world.move(ticket.id, "resolved", "Papierstau behoben")
    assert await world.due(ticket.id) is None
    assert await world.scan(berlin(2026, 4, 1, 12, 0)) == 0
    assert await world.escalations() == []
    assert await world.outbox() == []  # no mail, no webhook: nothing at all


async def test_after_a_restart_an_overdue_escalation_fires_once(world: World) -> None:
    ticket = await world.ticket()  # Monday 09:00; then the service is down until Wednesday
    wednesday = berlin(2026, 3, 4, 9, 0)
    for _ in range(3):  # each a new service instance: its own engine, scanner and nothing in memory
        async with Database(world.url) as restarted:
            scanner = SlaScanner(restarted, clock=lambda: wednesday)
            await scanner.scan_once()
            assert await scanner.scan_once() == 0
    # both targets are breached: the breaches go out, the warnings are moot and are not sent after them
    assert await world.fired(ticket.id) == [("response", "breach"), ("resolution", "breach")]
    assert _mails(await world.outbox()) == [(MANAGEMENT, "breach"), (MANAGEMENT, "breach")]
    assert [e["due_at"] for e in await world.escalations(ticket.id)] == [
        berlin(2026, 3, 2, 11, 0), berlin(2026, 3, 2, 17, 0)
    ]  # fmt: skip
    assert await world.due(ticket.id) is None


async def test_resolving_de_escalates_what_is_open_and_reopening_resumes_the_clock(world: World) -> None:
    ticket = await world.ticket()
    assert await world.scan(berlin(2026, 3, 2, 11, 0)) == 1  # the response breach (its warning is moot)
    world.at(berlin(2026, 3, 2, 12, 0))
    await world.move(ticket.id, "resolved", "Treiber neu installiert", actor=AGENT)
    (escalation,) = await world.escalations(ticket.id)
    assert (escalation["de_escalated_by"], escalation["reason"]) == (AGENT, "ticket resolved")
    assert escalation["de_escalated_at"] == berlin(2026, 3, 2, 12, 0)
    assert escalation["acknowledged_by"] == AGENT  # taking it back acknowledges it
    assert escalation["acknowledged_at"] == berlin(2026, 3, 2, 12, 0)
    (row,) = await world.history(ticket.id, "de-escalated")
    assert (row["actor"], row["old_value"]) == (AGENT, "response breach")
    assert "ticket resolved" in row["note"]
    # those the breach was sent to hear that it was taken back, by whom and why; nobody else
    sent = await world.outbox()
    told = [r for r in sent if r["dedupe_key"].startswith("escalation:")]
    cleared = [r for r in sent if r["dedupe_key"].startswith("de-escalation:")]
    assert {(r["channel"], r["target"]) for r in cleared} == {(r["channel"], r["target"]) for r in told}
    (mail,) = [r for r in cleared if r["channel"] == "mail"]
    assert mail["target"] == MANAGEMENT and mail["subject"].endswith("SLA-Verletzung (Reaktionszeit) zurückgenommen")
    # who by name (an account nobody has any more: "Konto 3"), never agent:3; the system's reason in words
    assert AGENT not in mail["body"]["text"] and "Zurückgenommen von: Konto 3" in mail["body"]["text"]
    assert "Grund: Ticket gelöst" in mail["body"]["text"]
    assert "02.03.2026, 12:00" in mail["body"]["text"]
    # reopened on Tuesday 09:00: 3 h were used on Monday (09-12), the warning comes 3 h later
    world.at(berlin(2026, 3, 3, 9, 0))
    await world.move(ticket.id, "reopened", "Drucker streikt wieder", actor=AGENT)
    assert await world.due(ticket.id) == berlin(2026, 3, 3, 12, 0)
    assert await world.scan(berlin(2026, 3, 3, 12, 0)) == 1
    assert await world.fired(ticket.id) == [("response", "breach"), ("resolution", "warning")]


async def test_a_higher_priority_brings_the_due_time_forward(world: World) -> None:
    ticket = await world.ticket()
    assert await world.due(ticket.id) == berlin(2026, 3, 2, 10, 30)
    world.at(berlin(2026, 3, 2, 9, 5))
    category = await world.category_id("infrastructure/lan")
    view = await world.tickets.classify(TENANT, ticket.id, category_id=category, impact=1, urgency=1, actor=API)
    assert view.priority == 1  # 24/7: response 15 min, so the warning is due after 11 min 15 s
    assert await world.due(ticket.id) == MONDAY_9 + timedelta(minutes=11, seconds=15)
    assert await world.scan(MONDAY_9 + timedelta(minutes=15)) == 1
    (escalation,) = await world.escalations(ticket.id)
    assert (escalation["target"], escalation["kind"], escalation["priority"]) == ("response", "breach", 1)
    assert escalation["category_id"] == category


async def test_a_category_branch_has_its_own_team_lead(world: World) -> None:
    ticket = await world.ticket(subject="KIS-Anmeldung geht nicht")
    category = await world.category_id("kis/login")
    await world.tickets.classify(TENANT, ticket.id, category_id=category, impact=3, urgency=3, actor=API)
    assert await world.scan(berlin(2026, 3, 2, 10, 45)) == 1
    assert await world.scan(berlin(2026, 3, 2, 11, 0)) == 1
    # level 1 of the kis branch is KIS-Koordination; level 2 has no branch contact: the tenant-wide one
    assert _mails(await world.outbox()) == [(KIS_LEAD, "warning"), (MANAGEMENT, "breach")]
    assert [e["notified"] for e in await world.escalations(ticket.id)] == [
        [{"name": "KIS-Koordination", "channels": ["mail"]}], [{"name": "IT-Leitung", "channels": ["mail"]}]
    ]  # fmt: skip


async def test_a_tenant_without_an_sla_has_no_timers(world: World) -> None:
    ticket = await world.ticket(tenant=OTHER)
    async with world.db.engine.connect() as conn:
        rows = (await conn.execute(select(sla_timers).where(sla_timers.c.ticket_id == ticket.id))).all()
    assert rows == []
    assert await world.scan(berlin(2026, 4, 1, 12, 0)) == 0


async def test_importing_an_sla_arms_the_open_tickets_of_the_tenant(world: World) -> None:
    open_ticket = await world.ticket(tenant=OTHER)
    done = await world.ticket(tenant=OTHER)
    await world.workflow.transition(OTHER, done.id, "resolved", note="erledigt", actor=API)
    result = await import_sla(world.db, OTHER, sla_data(), now=berlin(2026, 3, 2, 9, 30))
    assert result.armed == 1
    assert await world.due(open_ticket.id) == berlin(2026, 3, 2, 9, 30)  # recomputed at the next scan
    assert await world.scan(berlin(2026, 3, 2, 9, 31)) == 0
    assert await world.due(open_ticket.id) == berlin(2026, 3, 2, 10, 30)
    assert await world.due(done.id) is None


async def test_the_scanner_runs_as_an_owned_task(world: World) -> None:
    ticket = await world.ticket()
    world.at(berlin(2026, 3, 2, 11, 0))
    scanner = SlaScanner(world.db, interval_s=0.01, clock=world.clock)
    await scanner.start()
    try:
        async with asyncio.timeout(5):
            while scanner.fired < 1:  # noqa: ASYNC110 (the scanner's own task fires)
                await asyncio.sleep(0.01)
    finally:
        await scanner.close()
    assert scanner.health() == {"fired": 1, "last_error": None}
    assert await world.fired(ticket.id) == [("response", "breach")]


async def test_the_due_scan_is_an_indexed_query(sqlite_url: str) -> None:
    await migrate(sqlite_url)
    async with Database(sqlite_url) as db, db.engine.connect() as conn:
        plan = (
            await conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT ticket_id FROM sla_timers WHERE next_due_at IS NOT NULL "
                    "AND next_due_at <= '2026-03-02 08:10:00' ORDER BY next_due_at, ticket_id LIMIT 100"
                )
            )
        ).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "USING COVERING INDEX ix_sla_timers_next_due_at" in details and "TEMP B-TREE" not in details


async def test_the_sla_kpis_read_the_escalations(world: World) -> None:
    kis = await world.ticket(subject="KIS")
    await world.tickets.classify(TENANT, kis.id, category_id=await world.category_id("kis/login"), impact=3,
                                 urgency=3, actor=API)  # fmt: skip
    plain = await world.ticket()
    quick = await world.ticket()
    await world.move(quick.id, "resolved", "sofort gelöst")
    assert await world.scan(berlin(2026, 3, 2, 10, 30)) == 2  # the response warnings of kis and plain
    assert await world.scan(berlin(2026, 3, 2, 11, 0)) == 2  # their response breaches
    world.at(berlin(2026, 3, 2, 12, 0))
    await world.move(plain.id, "resolved", "erledigt")  # takes back plain's escalations
    measured, facts = await sla_facts(world.db, TENANT, berlin(2026, 3, 1, 0, 0), berlin(2026, 4, 1, 0, 0))
    kpis = sla_kpis(measured, facts).to_dict()
    assert kpis == {
        "measured": 3,
        "warnings": {"response": 2, "resolution": 0},
        "breaches": {"response": 2, "resolution": 0},
        "compliance": {"response": 1 / 3, "resolution": 1.0},
        "by_category": {"kis": {"warning": 1, "breach": 1}, "none": {"warning": 1, "breach": 1}},
        "escalation_time_s": {"mean": 5400.0, "p90": 5400.0},
        "open": 2,
    }
    # the monthly report shows the same figures to the manager, in its own section
    built = await report.build(world.db, TENANT, "2026-03", now=berlin(2026, 4, 1, 6, 0))
    assert built.sla == kpis
    page = await report.render(built, "html")
    section = page[page.index('<h2 id="sla">') : page.index("<footer>")]
    assert "3 Tickets des Monats" in section and "33,3\u00a0%" in section and "100,0\u00a0%" in section
    # categories by their titles (never the code kis), the unclassified in words, German number format
    assert "<td>KIS (Krankenhausinformationssystem)</td>" in section and "<td>nicht klassifiziert</td>" in section
    assert "<td>kis</td>" not in section and "<td>none</td>" not in section and "1 Std. 30 Min." in section


async def test_a_tenants_warning_share_decides_when_the_warning_fires(world: World) -> None:
    # the other tenant warns at 50 % of a target (every other test: 0.75)
    await import_sla(world.db, OTHER, sla_data(warning_at=0.5), now=MONDAY_9 - timedelta(days=1))
    ticket = await world.ticket(tenant=OTHER)  # Monday 09:00, unclassified: priority 3 (response 2 h)
    assert await world.due(ticket.id) == berlin(2026, 3, 2, 10, 0)  # 50 % of 2 h, not 75 % (10:30)
    assert await world.scan(berlin(2026, 3, 2, 9, 59, 59)) == 0
    assert await world.scan(berlin(2026, 3, 2, 10, 0)) == 1
    (warning,) = await world.escalations(ticket.id)
    assert (warning["target"], warning["kind"], warning["due_at"]) == ("response", "warning", berlin(2026, 3, 2, 10, 0))
    (mail,) = [row for row in await world.outbox() if row["dedupe_key"].startswith("escalation:")]
    assert mail["subject"].startswith(f"[{ticket.number}] SLA-Warnung: 50 % der Reaktionszeit verbraucht")
    assert await world.due(ticket.id) == berlin(2026, 3, 2, 11, 0)  # the breach stays at 100 %
    # the tenant of the fixture keeps its own 75 %
    own = await world.ticket()
    assert await world.due(own.id) == berlin(2026, 3, 2, 11, 30)


async def test_a_policys_own_warning_share_wins_over_the_tenants(world: World) -> None:
    policies = sla_data()["policies"]
    policies[3] = {"response": "2h", "resolution": "8h", "warning_at": 0.25}
    await import_sla(world.db, OTHER, sla_data(warning_at=0.5, policies=policies), now=MONDAY_9 - timedelta(days=1))
    ticket = await world.ticket(tenant=OTHER)
    assert await world.due(ticket.id) == berlin(2026, 3, 2, 9, 30)  # 25 % of 2 h
    assert await world.scan(berlin(2026, 3, 2, 9, 29, 59)) == 0
    assert await world.scan(berlin(2026, 3, 2, 9, 30)) == 1
    assert await world.fired(ticket.id) == [("response", "warning")]


async def test_a_new_tickets_timer_is_the_one_a_full_recompute_gives(world: World) -> None:
    """A ticket's creation schedules its timer without the reads a change needs (no timer row, status rows or
    escalations can exist yet): the stored instant and the plan must be exactly what the full path computes — for
    a web ticket (not responded) and a phone ticket from a call (responded at once), classified or not."""
    web_ticket = await world.ticket()
    classified = await world.workflow.service.create(
        TENANT, channel="phone", subject="KIS hängt", requester=Requester(name="Station 3"), actor=AGENT,
        category_id=await world.category_id("kis"),
    )  # fmt: skip
    for ticket in (web_ticket, classified):
        stored = await world.due(ticket.id)
        async with world.db.engine.begin() as conn:
            full = await schedule(conn, ticket.id, MONDAY_9)
        assert full is not None and stored is not None
        assert stored == full.next_due == await world.due(ticket.id)
