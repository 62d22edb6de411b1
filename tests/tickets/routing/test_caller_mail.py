"""Caller mails on creation and closure, through the real SMTP server, and the status page their links open."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from tests.outbox.sinks import status_link, text_of
from tests.tickets.routing.conftest import MUELLER, OTHER, TENANT, World
from uhd_telephony.app.web import init_app
from uhd_telephony.directory.models import USERS
from uhd_telephony.outbox.models import outbox
from uhd_telephony.tickets import history as hist
from uhd_telephony.tickets.history import Action, Change
from uhd_telephony.tickets.notify import notify_caller
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.tickets.routing import route
from uhd_telephony.tickets.view import tickets

PUBLIC = "https://helpdesk.example.org/status/"


async def _client(world: World, aiohttp_client: Any) -> TestClient:
    return await aiohttp_client(init_app(world.settings))


async def _page(client: TestClient, link: str) -> tuple[int, str]:
    assert link.startswith(PUBLIC)
    response = await client.get("/status/" + link.removeprefix(PUBLIC))
    return response.status, await response.text()


async def _close(world: World, ticket_id: int) -> None:
    """Close the ticket as the workflow's close transition does: status, time, caller mail, history; one transaction."""
    now = world.clock()
    async with world.db.engine.begin() as conn:
        await conn.execute(
            update(tickets).where(tickets.c.id == ticket_id).values(status="closed", closed_at=now, updated_at=now)
        )
        await notify_caller(conn, {"id": ticket_id}, "closed")
        await hist.append(conn, ticket_id, now, "agent:3", [Change(Action.STATUS, "status", "in_progress", "closed",
                                                                  "intern: Anwender war schwierig")])  # fmt: skip


async def _token_hash(world: World, ticket_id: int) -> str | None:
    async with world.db.engine.connect() as conn:
        return (await conn.execute(select(tickets.c.status_token_hash).where(tickets.c.id == ticket_id))).scalar()


async def test_the_caller_gets_a_mail_with_a_status_link_that_needs_no_login(world: World, aiohttp_client: Any) -> None:
    ticket = await world.phone_ticket(1)
    await world.tickets.classify(
        TENANT, ticket.id, category_id=await world.category_id("pacs/viewer"), impact=3, urgency=3,
        description="Befund von Frau X. lässt sich nicht öffnen", actor="agent:3",
    )  # fmt: skip
    async with world.db.engine.begin() as conn:
        await route(conn, TENANT, ticket.id, group="2nd_level", actor="agent:3", reason="intern: Viewer-Cluster")
    await world.deliver()

    (mail,) = world.smtp.to(MUELLER)
    assert mail["Subject"] == f"[{ticket.number}] Ihre Anfrage ist eingegangen / Your request has been received"
    body = text_of(mail)
    assert body.index("Guten Tag Dr. Jürgen Müller") < body.index("Hello Dr. Jürgen Müller")  # German first
    # the status in words, the time in Berlin time in each language's format: no code, no UTC instant
    assert "Status: Neu" in body and "Status: New" in body
    assert re.search(r"Erfasst: \d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}", body)
    assert re.search(r"Recorded: \d{1,2} \w{3} \d{4}, \d{2}:\d{2}", body)
    assert not re.search(r"\d{2}:\d{2}:\d{2}(\.\d+)?Z", body) and "new" not in body.split()
    link, token = status_link(mail)
    assert link == PUBLIC + token and len(token) >= 43
    # only the hash is stored: not in the ticket, and the sent outbox row no longer has the token either
    assert await _token_hash(world, ticket.id) == hashlib.sha256(token.encode()).hexdigest()
    async with world.db.engine.connect() as conn:
        bodies = [str(r) for r in (await conn.execute(select(outbox.c.body))).scalars()]
    assert not any(token in b for b in bodies)

    client = await _client(world, aiohttp_client)  # no login: a fresh client without a session
    status, page = await _page(client, link)
    assert status == 200
    for shown in (ticket.number, "In Bearbeitung", "Bildanzeige / viewer", "Anfrage erfasst",
                  "Weitergeleitet an 2nd-Level-Support", "Forwarded to 2nd level support"):  # fmt: skip
        assert shown in page, shown
    for hidden in ("Müller", "MUELLER", "+49231986", "Anna", "agent:3", "intern:", "Viewer-Cluster", "Befund",
                   TENANT, "priority", "impact"):  # fmt: skip
        assert hidden not in page, hidden


async def test_closing_mails_a_fresh_link_that_shows_the_closed_ticket(world: World, aiohttp_client: Any) -> None:
    ticket = await world.phone_ticket(1)
    await world.deliver()
    (created,) = world.smtp.to(MUELLER)
    first_link, _ = status_link(created)
    await _close(world, ticket.id)
    async with world.db.engine.begin() as conn:  # the same closure reported twice: one mail, the link stays
        await notify_caller(conn, await world.tickets.get(TENANT, ticket.id), "closed")
    await world.deliver()

    _, closed = world.smtp.to(MUELLER)
    assert closed["Subject"] == f"[{ticket.number}] Ihre Anfrage wurde abgeschlossen / Your request has been closed"
    assert closed["Message-ID"] != created["Message-ID"]
    link, _ = status_link(closed)
    client = await _client(world, aiohttp_client)
    status, page = await _page(client, link)
    assert status == 200 and "Abgeschlossen" in page and "Status: Abgeschlossen" in page
    assert "Anwender war schwierig" not in page and "agent:3" not in page
    # each mail's link replaces the one before: the closure mail's is the one that works now
    assert (await _page(client, first_link))[0] == 404


async def test_a_caller_without_a_usable_mail_address_gets_no_mail_and_no_link(world: World) -> None:
    async with world.db.engine.begin() as conn:
        for external_id, email in (("P-10005", None), ("P-10006", "klaus.becker at klinikum")):
            await conn.execute(update(USERS).where(USERS.c.external_id == external_id).values(email=email))
    created = [
        await world.phone_ticket(1, user=None),  # the caller ID matched no one
        await world.phone_ticket(2, user="P-10005"),  # no address in the directory
        await world.phone_ticket(3, user="P-10006"),  # an address no mail can go to
    ]
    assert await world.deliver() == 0
    assert world.smtp.mails() == []
    for ticket in created:
        assert await _token_hash(world, ticket.id) is None


async def test_a_web_ticket_mails_the_address_given_with_it(world: World) -> None:
    ticket = await world.tickets.create(
        TENANT, channel="web", subject="Drucker Station 3B", actor="web",
        requester=Requester(name="Gast Nutzer", email="gast.nutzer@klinikum-nord.example"),
    )  # fmt: skip
    await world.deliver()
    (mail,) = world.smtp.to("gast.nutzer@klinikum-nord.example")
    assert ticket.number in mail["Subject"] and "Betreff: Drucker Station 3B" in text_of(mail)


async def test_a_status_link_opens_its_own_ticket_and_nothing_else(world: World, aiohttp_client: Any) -> None:
    ours = await world.phone_ticket(1)
    theirs = await world.phone_ticket(2, tenant=OTHER)
    await world.deliver()
    links = {}
    for mail in world.smtp.mails():
        link, token = status_link(mail)
        number = mail["Subject"].split("]")[0].lstrip("[")
        links[number] = (link, token)
    assert set(links) == {ours.number, theirs.number}
    client = await _client(world, aiohttp_client)
    for number, (link, _) in links.items():
        status, page = await _page(client, link)
        others = {ours.number, theirs.number} - {number}
        assert status == 200 and number in page and not any(o in page for o in others)

    token = links[ours.number][1]
    guessed = secrets.token_urlsafe(32)
    near_miss = token[:-1] + ("A" if token[-1] != "A" else "B")
    for probe in (guessed, near_miss, hashlib.sha256(token.encode()).hexdigest(), "x", token + "/../1", "%00"):
        response = await client.get(f"/status/{probe}")
        page = await response.text()
        assert response.status == 404, probe
        assert ours.number not in page and theirs.number not in page and "UHD-" not in page
    assert (await client.get("/status/")).status == 404
