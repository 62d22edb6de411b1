"""The resolve cascade on SQLite and PostgreSQL: the parent and every linked ticket resolved through the workflow,
every caller told once — by mail through the outbox (a linked ticket's with its status link), else on the callback
list — also after a crash halfway, also when the parent is resolved on the ticket page."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from sqlalchemy import select

from tests.incidents.conftest import T0, TENANT_A, World
from uhd_telephony.directory.models import USERS
from uhd_telephony.incidents import cascade, notice
from uhd_telephony.incidents.worker import IncidentScanner
from uhd_telephony.outbox.service import PUBLIC_URL, REDACT
from uhd_telephony.tickets.notify import token_hash

RESOLUTION = "Der KIS-Server wurde neu gestartet, alles läuft wieder."
LINK = re.compile(re.escape(PUBLIC_URL) + r"/status/([A-Za-z0-9_-]{43})")


async def _user_id(world: World, name: str) -> int:
    found = await world.rows(select(USERS.c.id).where(USERS.c.tenant == TENANT_A, USERS.c.name == name))
    return int(found[0]["id"])


async def _callers(world: World) -> dict[str, Any]:
    """An incident with every kind of caller: a ticket with a mail address, one of a directory user with one, one
    with only a phone number, one with neither, one closed before; a subscriber with mail and one without."""
    view = await world.declare()
    tickets = {
        "mail": await world.ticket(name="Paula Pflege", email="paula.pflege@klinikum-nord.example"),
        "directory": await world.ticket(name="Sabine Weiß", user_id=await _user_id(world, "Sabine Weiß")),
        "phone": await world.ticket(name="Otto Ohnemail", number="0231 9864300"),
        "nobody": await world.ticket(name="Niemand Erreichbar"),
        "closed": await world.ticket(name="Clara Closed", email="clara@klinikum-nord.example"),
    }
    for ticket in tickets.values():
        await world.incidents.link(TENANT_A, view.id, ticket.id, actor=world.anna)
    flow = world.incidents.workflow
    await flow.transition(TENANT_A, tickets["closed"].id, "resolved", note="selbst gelöst", actor=world.anna)
    await flow.transition(TENANT_A, tickets["closed"].id, "closed", note=None, actor=world.anna)
    assert await world.subscribe(view.id, "+49 231 9861140", name="Mehmet Demir", email="mehmet@klinikum-nord.example")
    assert await world.subscribe(view.id, "0231 9861201", name="Anna-Lena Schröder")
    return {"incident": view, "tickets": tickets}


async def test_resolving_resolves_every_linked_ticket_and_tells_each_caller_once(world: World) -> None:
    made = await _callers(world)
    view, tickets = made["incident"], made["tickets"]
    before = len(await world.outbox())  # the closure mail of the ticket closed before
    world.later(hours=2)
    resolved, told = await world.incidents.resolve(TENANT_A, view.id, resolution=RESOLUTION, actor=world.anna)
    assert told == 7 and resolved.status == "resolved" and resolved.resolution == RESOLUTION
    assert resolved.resolved_at == world.clock.now == resolved.communicated_at
    assert (resolved.resolved_by, resolved.tickets_notified, resolved.subscribers_notified) == (
        world.seeded.anna.id, 5, 2,
    )  # fmt: skip

    parent = await world.ticket_row(view.parent_ticket_id)
    assert parent["status"] == "resolved"
    for key, ticket in tickets.items():
        row = await world.ticket_row(ticket.id)
        assert row["status"] == ("closed" if key == "closed" else "resolved"), key
        comments = [h["note"] for h in await world.history(ticket.id, "comment") if h["field"] == "public"]
        assert comments == ([] if key == "closed" else [RESOLUTION]), key  # a closed ticket takes no comment
    status = (await world.history(tickets["mail"].id, "status"))[-1]
    assert (status["new_value"], status["note"], status["actor"]) == ("resolved", RESOLUTION, world.anna)

    via = {r["ticket_id"]: r["notified_via"] for r in await world.links(view.id)}
    assert via == {
        tickets["mail"].id: "mail", tickets["directory"].id: "mail", tickets["phone"].id: "callback",
        tickets["nobody"].id: None, tickets["closed"].id: "mail",
    }  # fmt: skip
    assert all(r["notified_at"] == world.clock.now for r in await world.links(view.id))

    mails = await world.mails_about(view.id)
    assert len(await world.outbox()) == before + len(mails) == before + 4
    by_target = {m["target"]: m for m in mails}
    assert set(by_target) == {
        "paula.pflege@klinikum-nord.example", "sabine.weiss@klinikum-nord.example", "clara@klinikum-nord.example",
        "mehmet@klinikum-nord.example",
    }  # fmt: skip
    paula = by_target["paula.pflege@klinikum-nord.example"]
    text = paula["body"]["text"]
    assert "KIS ausgefallen" in paula["subject"] and tickets["mail"].number in paula["subject"]
    assert "Guten Tag Paula Pflege," in text and "--- English ---" in text and RESOLUTION in text
    token = LINK.search(text).group(1)  # type: ignore[union-attr]
    assert paula["body"][REDACT] == [token]
    assert (await world.ticket_row(tickets["mail"].id))["status_token_hash"] == token_hash(token)
    subscriber = by_target["mehmet@klinikum-nord.example"]
    assert "Guten Tag Mehmet Demir," in subscriber["body"]["text"] and "/status/" not in subscriber["body"]["text"]
    assert subscriber["ticket_id"] is None

    entries = {c["call_id"]: c for c in await world.callbacks()}
    subs = {s["number"]: s for s in await world.subscriptions(view.id)}
    assert set(entries) == {
        notice.ticket_key(view.id, tickets["phone"].id),
        notice.subscription_key(view.id, subs["0231 9861201"]["id"]),
    }
    phone_entry = entries[notice.ticket_key(view.id, tickets["phone"].id)]
    assert (phone_entry["caller_number"], phone_entry["caller_name"], phone_entry["status"]) == (
        "0231 9864300", "Otto Ohnemail", "open",
    )  # fmt: skip
    assert "Großstörung „KIS ausgefallen“ behoben" in phone_entry["note"] and "no mail address" in phone_entry["note"]
    assert [s["notified_via"] for s in subs.values()] == ["mail", "callback"]

    # idempotent: again, and the scanner after it, tell nobody and write nothing
    history = {t.id: await world.history(t.id) for t in tickets.values()}
    again, told_again = await world.incidents.resolve(TENANT_A, view.id, resolution="anders", actor=world.anna)
    assert told_again == 0 and again.resolution == RESOLUTION
    assert await IncidentScanner(world.incidents).scan_once() == 0
    assert len(await world.outbox()) == before + 4 and len(await world.callbacks()) == 2
    assert {t.id: await world.history(t.id) for t in tickets.values()} == history


async def test_a_crash_halfway_leaves_the_rest_and_a_retry_tells_nobody_twice(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = await world.declare()
    tickets = [await world.ticket(name=f"Person {i}", email=f"p{i}@klinikum-nord.example") for i in range(3)]
    for ticket in tickets:
        await world.incidents.link(TENANT_A, view.id, ticket.id, actor=world.anna)
    real, calls = notice.enqueue, []

    async def fails_on_the_second(*args: Any, **kwargs: Any) -> None:
        calls.append(kwargs["dedupe_key"])
        if len(calls) == 2:
            raise ConnectionError("the database went away")
        await real(*args, **kwargs)

    monkeypatch.setattr(notice, "enqueue", fails_on_the_second)
    with pytest.raises(ConnectionError):
        await world.incidents.resolve(TENANT_A, view.id, resolution=RESOLUTION, actor=world.anna)
    stored = await world.incident_row(view.id)
    assert stored["status"] == "resolved"  # the parent's resolve committed before
    statuses = [(await world.ticket_row(t.id))["status"] for t in tickets]
    # the second ticket's resolve rolled back with its notice: it is as it was, not resolved without its caller told
    assert statuses == ["resolved", "new", "new"]
    assert [r["notified_at"] is not None for r in await world.links(view.id)] == [True, False, False]
    assert len(await world.mails_about(view.id)) == 1

    monkeypatch.setattr(notice, "enqueue", real)
    world.later(minutes=1)
    assert await IncidentScanner(world.incidents).scan_once() == 2  # what the process left, by the scanner
    mails = await world.mails_about(view.id)
    assert sorted(m["dedupe_key"] for m in mails) == sorted(notice.ticket_key(view.id, t.id) for t in tickets)
    assert [(await world.ticket_row(t.id))["status"] for t in tickets] == ["resolved"] * 3
    for ticket in tickets:
        public = [h for h in await world.history(ticket.id, "comment") if h["field"] == "public"]
        assert len(public) == 1  # the comment came with the notice, once
    assert (await world.incidents.resolve(TENANT_A, view.id, resolution="x", actor=world.anna))[1] == 0


async def test_resolving_the_parent_on_the_ticket_page_resolves_the_incident_and_the_scanner_tells(
    world: World,
) -> None:
    view = await world.declare()
    ticket = await world.ticket(email="paula.pflege@klinikum-nord.example")
    await world.incidents.link(TENANT_A, view.id, ticket.id, actor=world.anna)
    assert await world.subscribe(view.id, "0231 9861201", email="al@klinikum-nord.example")
    world.later(minutes=30)
    flow = world.incidents.workflow
    await flow.transition(TENANT_A, view.parent_ticket_id, "resolved", note="Netzteil getauscht", actor=world.anna)
    resolved = await world.incidents.get(TENANT_A, view.id)
    assert (resolved.status, resolved.resolution, resolved.resolved_at) == (
        "resolved",
        "Netzteil getauscht",
        world.clock.now,
    )
    assert resolved.resolved_by == world.seeded.anna.id and resolved.tickets_notified == 0
    scanner = IncidentScanner(world.incidents)
    assert await scanner.scan_once() == 2 and scanner.health()["told"] == 2
    assert (await world.ticket_row(ticket.id))["status"] == "resolved"
    status = (await world.history(ticket.id, "status"))[-1]
    assert status["actor"] == "system" and status["note"] == "Netzteil getauscht"
    assert len(await world.mails_about(view.id)) == 2
    assert await scanner.scan_once() == 0


async def test_a_ticket_resolved_by_hand_after_the_incident_tells_its_caller_with_it(world: World) -> None:
    view = await world.declare()
    ticket = await world.ticket(email="paula.pflege@klinikum-nord.example")
    await world.incidents.link(TENANT_A, view.id, ticket.id, actor=world.anna)
    # the incident resolved by its parent, the linked ticket resolved by an agent before any cascade ran
    flow = world.incidents.workflow
    await flow.transition(TENANT_A, view.parent_ticket_id, "resolved", note=RESOLUTION, actor=world.anna)
    await flow.transition(TENANT_A, ticket.id, "resolved", note="am Telefon erklärt", actor=world.anna)
    assert [r["notified_via"] for r in await world.links(view.id)] == ["mail"]  # in that resolve's transaction
    assert await IncidentScanner(world.incidents).scan_once() == 0


async def test_two_cascades_at_once_tell_each_caller_once(world: World) -> None:
    view = await world.declare()
    tickets = [await world.ticket(name=f"Person {i}", email=f"p{i}@klinikum-nord.example") for i in range(4)]
    for ticket in tickets:
        await world.incidents.link(TENANT_A, view.id, ticket.id, actor=world.anna)
    flow = world.incidents.workflow
    await flow.transition(TENANT_A, view.parent_ticket_id, "resolved", note=RESOLUTION, actor=world.anna)
    first, second = IncidentScanner(world.incidents), IncidentScanner(world.incidents)
    told = await asyncio.gather(first.complete_pending(), second.complete_pending())
    assert sum(told) == 4
    assert len(await world.mails_about(view.id)) == 4
    for ticket in tickets:
        assert len([h for h in await world.history(ticket.id, "comment") if h["field"] == "public"]) == 1


async def test_an_incident_without_callers_resolves_with_its_parent(world: World) -> None:
    view = await world.declare()
    resolved, told = await world.incidents.resolve(TENANT_A, view.id, resolution=RESOLUTION, actor=world.anna)
    assert told == 0 and resolved.communicated_at is None and resolved.resolved_at == T0
    with pytest.raises(Exception) as blank:
        await world.incidents.resolve(TENANT_A, (await world.declare()).id, resolution="  ", actor=world.anna)
    assert getattr(blank.value, "status_code", None) == 400


async def test_a_failing_listener_of_resolved_incidents_never_fails_the_parents_resolve(world: World) -> None:
    # a scanner started in a loop that is gone leaves its nudge behind: calling it raises (Event loop is closed)
    def gone() -> None:
        raise RuntimeError("Event loop is closed")

    cascade.when_resolved(gone)
    try:
        view = await world.declare()
        flow = world.incidents.workflow
        await flow.transition(TENANT_A, view.parent_ticket_id, "resolved", note=RESOLUTION, actor=world.anna)
    finally:
        cascade.forget(gone)
    assert (await world.incidents.get(TENANT_A, view.id)).status == "resolved"
    assert (await world.ticket_row(view.parent_ticket_id))["status"] == "resolved"
