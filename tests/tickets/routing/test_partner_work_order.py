"""Issue 15 item 4: a work order to a ``partner:`` group carries no internal comment (mail and webhook); the
helpdesk's own 2nd level gets the whole history."""

from __future__ import annotations

import json

from standardwebhooks.webhooks import Webhook

from tests.outbox.sinks import text_of
from tests.tickets.routing.conftest import DEDALUS_MAIL, SECOND_LEVEL_MAIL, TENANT, World
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.tickets.workflow import TicketWorkflow

INTERNAL = "INTERN: Abteilung zahlt nicht, Vertrag prüfen"
PUBLIC = "Wir haben den Hersteller informiert"
OWN_INTERNAL = "Dedalus intern: Patch 4711 vorgesehen"


async def test_work_orders_to_a_partner_leave_internal_comments_out_but_keep_its_own(world: World) -> None:
    flow = TicketWorkflow(world.tickets)
    dedalus = await AccountService(world.db).create(
        "dedalus", "ein langes Passwort 42!", role="partner", tenants=[TENANT], partner_group="partner:dedalus"
    )
    ticket = await world.phone_ticket(1)
    await flow.comment(TENANT, ticket.id, text=INTERNAL, public=False, actor="agent:3")
    await flow.comment(TENANT, ticket.id, text=PUBLIC, public=True, actor="agent:3")
    await flow.route(TENANT, ticket.id, group="partner:dedalus", reason="Hersteller", actor="agent:3")
    await flow.comment(TENANT, ticket.id, text=OWN_INTERNAL, public=False, actor=f"partner:{dedalus.id}")
    await flow.route(TENANT, ticket.id, group="2nd_level", reason="zurück", actor="agent:3")
    await flow.route(TENANT, ticket.id, group="partner:dedalus", reason="wieder Hersteller", actor="agent:3")
    await world.deliver()

    # the outbox may deliver the two in either order: the first work order is the one without the second routing
    first, second = sorted(world.smtp.to(DEDALUS_MAIL), key=lambda mail: "wieder Hersteller" in text_of(mail))
    for mail in (first, second):
        assert PUBLIC in text_of(mail) and INTERNAL not in text_of(mail)
    assert OWN_INTERNAL not in text_of(first) and OWN_INTERNAL in text_of(second)  # its own note comes back to it
    hooks = [Webhook(world.secret).verify(hook.body, hook.headers) for hook in world.hooks.received]
    hooks.sort(key=lambda payload: len(payload["data"]["history"]))
    assert len(hooks) == 2
    for payload in hooks:
        assert INTERNAL not in json.dumps(payload, ensure_ascii=False)
        notes = [e["note"] for e in payload["data"]["history"] if e["action"] == "comment"]
        assert notes[0] == PUBLIC
    assert [e["note"] for e in hooks[1]["data"]["history"] if e["action"] == "comment"] == [PUBLIC, OWN_INTERNAL]

    # 2nd level is the helpdesk's own staff: the whole history, internal notes included
    (order,) = world.smtp.to(SECOND_LEVEL_MAIL)
    for text in (INTERNAL, PUBLIC, OWN_INTERNAL):
        assert text in text_of(order), text
    # and an agent reading the ticket still sees every comment
    entries = await world.tickets.history(TENANT, ticket.id)
    assert [e["note"] for e in entries if e["action"] == "comment"] == [INTERNAL, PUBLIC, OWN_INTERNAL]
