"""route(): the ticket's group, a ``routed`` history row and work orders by mail and signed webhook, one transaction."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from tests.tickets.routing.conftest import DEDALUS_MAIL, OTHER, SECOND_LEVEL_MAIL, TENANT, World
from uhd_telephony.errors import Conflict, NotFound, TicketError
from uhd_telephony.outbox.mail import message_id
from uhd_telephony.outbox.models import outbox
from uhd_telephony.tickets.history import history
from uhd_telephony.tickets.routing import route
from uhd_telephony.tickets.view import tickets

WHY = "ORBIS-Fehler beim Speichern, Hersteller muss ran"


async def _outbox_count(world: World) -> int:
    async with world.db.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())


async def test_routing_sends_a_work_order_by_mail_and_signed_webhook(world: World) -> None:
    ticket = await world.phone_ticket(1)
    await world.tickets.classify(
        TENANT, ticket.id, category_id=await world.category_id("kis/orbis/letters"), impact=2, urgency=2,
        subject="Arztbrief lässt sich nicht speichern", description="Fehler 0x17 beim Speichern", actor="agent:3",
    )  # fmt: skip
    await world.deliver()  # the caller's creation mail
    world.smtp.messages.clear()
    async with world.db.engine.begin() as conn:
        result = await route(conn, TENANT, ticket.id, actor="agent:3", reason=WHY)
    assert result.routed and (result.old_group, result.new_group) == ("1st_level", "partner:dedalus")
    assert result.work_orders == ("mail", "webhook")

    view = await world.tickets.get(TENANT, ticket.id)
    assert view.support_group == "partner:dedalus" and view.to_dict()["support_group"] == "partner:dedalus"
    last = (await world.tickets.history(TENANT, ticket.id))[-1]
    assert (last["action"], last["actor"], last["field"]) == ("routed", "agent:3", "support_group")
    assert (last["old_value"], last["new_value"], last["note"]) == ("1st_level", "partner:dedalus", WHY)
    async with world.db.engine.connect() as conn:
        due = (await conn.execute(select(tickets.c.first_level_due_at).where(tickets.c.id == ticket.id))).scalar()
    assert due is None  # beyond 1st level: the 10-minute rule is done with it

    assert await world.deliver() == 2
    (order,) = world.smtp.to(DEDALUS_MAIL)
    text = order.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert ticket.number in order["Subject"] and order["Message-ID"] == message_id(
        f"workorder:{ticket.id}:1:mail", world.settings.mail_from
    )
    for expected in (ticket.number, "KIS (Krankenhausinformationssystem) › ORBIS › Arztbriefschreibung",
                     "Dr. Jürgen Müller", "Kardiologie", WHY, "Fehler 0x17 beim Speichern", "Priorität: 2 – hoch",
                     "Weitergeleitet an: Dedalus (KIS)", "Status: Neu"):  # fmt: skip
        assert expected in text, expected
    # German, in words: no category slugs, status codes, actor codes or ISO instants
    for raw in ("kis/orbis/letters", "agent:3", "[system]", "status: new", "(high)"):
        assert raw not in text, raw
    assert not re.search(r"\d{2}:\d{2}:\d{2}(\.\d+)?Z", text)

    (hook,) = world.hooks.received
    assert hook.headers["webhook-id"] == f"workorder:{ticket.id}:1:webhook"
    payload = Webhook(world.secret).verify(hook.body, hook.headers)
    assert payload["type"] == "ticket.routed"
    data = payload["data"]
    assert data["ticket"]["number"] == ticket.number and data["ticket"]["tenant"] == TENANT
    assert data["ticket"]["category"]["path"] == "kis/orbis/letters"
    assert data["ticket"]["requester"]["name"] == "Dr. Jürgen Müller" and data["ticket"]["priority"] == 2
    assert data["routing"] == {
        "from": "1st_level", "to": "partner:dedalus", "group_name": "Dedalus (KIS)", "reason": WHY,
        "by": "agent:3", "at": data["routing"]["at"],
    }  # fmt: skip
    assert data["history"][0]["action"] == "created" and data["history"][-1]["action"] == "routed"


async def test_without_a_group_routing_follows_the_category_and_an_unclassified_ticket_goes_to_2nd_level(
    world: World,
) -> None:
    unclassified = await world.phone_ticket(1)
    printer = await world.phone_ticket(2)
    await world.tickets.classify(TENANT, printer.id, category_id=await world.category_id("pacs/viewer"),
                                 impact=3, urgency=3, actor="agent:3")  # fmt: skip
    async with world.db.engine.begin() as conn:
        first = await route(conn, TENANT, unclassified.id, actor="agent:3", reason="am Telefon nicht lösbar")
        second = await route(conn, TENANT, printer.id, actor="agent:3", reason="Viewer hängt")
    assert (first.new_group, first.work_orders) == ("2nd_level", ("mail",))
    assert (second.new_group, second.work_orders) == ("3rd_level", ("mail",))
    await world.deliver()
    assert len(world.smtp.to(SECOND_LEVEL_MAIL)) == 1 and len(world.smtp.to("3rd-level@klinik-it.example")) == 1


async def test_routing_to_the_group_it_has_writes_nothing(world: World) -> None:
    ticket = await world.phone_ticket(1)
    async with world.db.engine.begin() as conn:
        assert (await route(conn, TENANT, ticket.id, group="2nd_level", actor="agent:3", reason="a")).routed
    before = await _outbox_count(world)
    async with world.db.engine.begin() as conn:
        again = await route(conn, TENANT, ticket.id, group="2nd_level", actor="agent:3", reason="b")
    assert not again.routed and again.work_orders == ()
    assert await _outbox_count(world) == before
    assert [e["action"] for e in await world.tickets.history(TENANT, ticket.id)].count("routed") == 1


async def test_a_group_without_a_configured_channel_is_routed_and_says_so(world: World) -> None:
    ticket = await world.phone_ticket(1)
    async with world.db.engine.begin() as conn:
        result = await route(conn, TENANT, ticket.id, group="1st_level", actor="agent:3", reason="zurück")
        assert not result.routed  # it is there already
    other = await world.phone_ticket(2, tenant=OTHER)  # the other tenant has no groups configured
    async with world.db.engine.begin() as conn:
        result = await route(conn, OTHER, other.id, group="3rd_level", actor="agent:9", reason="Server")
    assert result.routed and result.work_orders == ()
    note = (await world.tickets.history(OTHER, other.id))[-1]["note"]
    assert note == "Server (no work order: group 3rd_level has no mail or webhook configured)"


async def test_routing_refuses_what_it_cannot_do_and_a_rollback_leaves_no_trace(world: World) -> None:
    ticket = await world.phone_ticket(1)
    async with world.db.engine.begin() as conn:
        with pytest.raises(NotFound):  # another tenant's ticket is as unknown as a missing one
            await route(conn, OTHER, ticket.id, actor="agent:9", reason="x")
        with pytest.raises(TicketError):
            await route(conn, TENANT, ticket.id, group="partner:nobody", actor="agent:3", reason="x")
        with pytest.raises(TicketError):
            await route(conn, TENANT, ticket.id, group="2nd level; drop", actor="agent:3", reason="x")
        with pytest.raises(TicketError):
            await route(conn, TENANT, ticket.id, actor="agent:3", reason=" ")
    before = await _outbox_count(world)
    with pytest.raises(RuntimeError):
        async with world.db.engine.begin() as conn:
            assert (await route(conn, TENANT, ticket.id, group="partner:dedalus", actor="a", reason="b")).routed
            raise RuntimeError("the API request failed after routing")
    assert (await world.tickets.get(TENANT, ticket.id)).support_group == "1st_level"
    assert await _outbox_count(world) == before
    async with world.db.engine.begin() as conn:
        await conn.execute(tickets.update().where(tickets.c.id == ticket.id).values(status="closed"))
    async with world.db.engine.begin() as conn:
        with pytest.raises(Conflict):
            await route(conn, TENANT, ticket.id, actor="agent:3", reason="x")
    async with world.db.engine.connect() as conn:
        routed = (await conn.execute(select(history).where(history.c.action == "routed"))).all()
    assert routed == []
