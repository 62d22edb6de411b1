"""Issue 16: a support group reads its work orders in its own language (``locale`` in the groups file; German
without one): subject, text, the history's sentences, statuses, priorities and times; the webhook stays JSON."""

from __future__ import annotations

import re

from standardwebhooks.webhooks import Webhook

from tests.tickets.routing.conftest import DEDALUS_MAIL, SECOND_LEVEL_MAIL, TENANT, World
from tests.tickets.test_history_text import RAW
from uhd_telephony.tickets.groups import import_groups
from uhd_telephony.tickets.routing import route

WHY = "ORBIS-Fehler beim Speichern, Hersteller muss ran"


async def _classified_ticket(world: World, n: int) -> int:
    ticket = await world.phone_ticket(n)
    await world.tickets.classify(
        TENANT, ticket.id, category_id=await world.category_id("kis/orbis/letters"), impact=2, urgency=2,
        subject="Arztbrief lässt sich nicht speichern", description="Fehler 0x17 beim Speichern", actor="agent:3",
    )  # fmt: skip
    return int(ticket.id)


async def test_a_group_with_locale_en_gets_its_work_order_in_english_and_one_without_in_german(world: World) -> None:
    # the KIS vendor's service desk abroad: the same group as seeded, now with a language of its own
    await import_groups(world.db, TENANT, [{
        "code": "partner:dedalus", "name": "Dedalus (KIS)", "mail": [DEDALUS_MAIL], "locale": "en",
        "webhook": {"url": world.hooks.url, "secret": world.secret},
    }])  # fmt: skip
    english_id, german_id = await _classified_ticket(world, 1), await _classified_ticket(world, 2)
    await world.deliver()  # the callers' creation mails
    world.smtp.messages.clear()
    async with world.db.engine.begin() as conn:
        await route(conn, TENANT, english_id, actor="agent:3", reason=WHY)  # the category's group: partner:dedalus
        await route(conn, TENANT, german_id, group="2nd_level", actor="agent:3", reason=WHY)
    assert await world.deliver() == 3  # two mails, one webhook

    (order,) = world.smtp.to(DEDALUS_MAIL)
    text = order.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert order["Subject"].startswith("[UHD-2026-") and "Work order: " in order["Subject"]
    for expected in (
        "Routed to: Dedalus (KIS), from: User Helpdesk",
        f"Reason: {WHY}",
        "Priority: 2 – high",
        "Status: In progress",
        "Channel: Phone",
        "Description:",
        "History:",
        "Times in German local time (Europe/Berlin).",
    ):
        assert expected in text, text
    history = text.split("History:\n", 1)[1]
    # the history's times and sentences in English too
    for expected in ("2 Mar 2026, 09:00  System: Ticket ", "Status: New → In progress", "Routed from User Helpdesk to"):
        assert expected in history, history
    assert "Arbeitsauftrag" not in text and "Priorität" not in text and "Weitergeleitet" not in text

    (german_order,) = world.smtp.to(SECOND_LEVEL_MAIL)
    german = german_order.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    for expected in (
        "Priorität: 2 – hoch",
        "Status: In Bearbeitung",
        "Weitergeleitet an: Klinik-IT 2nd Level",
        "02.03.2026, 09:00",
    ):
        assert expected in german, (expected, german.splitlines())
    assert "Work order" not in german and "Priority:" not in german

    # in words in either language: no category slugs, status or actor codes, ISO instants
    for each in (text, german, order["Subject"], german_order["Subject"]):
        assert not RAW.search(each) and "kis/orbis/letters" not in each and "status: new" not in each, each
        assert not re.search(r"\d{2}:\d{2}:\d{2}(\.\d+)?Z", each)

    # the webhook's JSON is the same for every language: codes and ISO instants for programs
    (hook,) = world.hooks.received
    data = Webhook(world.secret).verify(hook.body, hook.headers)["data"]
    assert data["ticket"]["status"] == "in_progress" and data["ticket"]["category"]["path"] == "kis/orbis/letters"
    assert data["routing"]["from"] == "1st_level" and data["history"][0]["action"] == "created"
