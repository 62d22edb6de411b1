"""Issue 15 item 4: internal comments never reach a partner through the API; the helpdesk's own staff see them all."""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient

from tests.security.conftest import World, bearer, browser, login
from tests.support.webapp import TENANT_A

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

A = f"/api/tenants/{TENANT_A}"
INTERNAL = "INTERN: Chefarzt beschwert sich, Lizenz läuft aus"
PUBLIC = "Wir kümmern uns darum"
OWN_INTERNAL = "acme intern: Ersatzteil bestellt"
OWN_PUBLIC = "Techniker kommt morgen"


async def test_a_partner_reads_public_comments_and_its_own_but_no_internal_one(
    client: TestClient, world: World
) -> None:
    one = A + f"/tickets/{world.ids['ticket_a']}"
    partner = bearer(world.tokens["partner"])
    anna = await browser(client)
    try:
        csrf = {"X-CSRF-Token": await login(anna, "anna")}
        for text, public in ((INTERNAL, False), (PUBLIC, True)):
            written = await anna.post(one + "/comments", json={"text": text, "public": public}, headers=csrf)
            assert written.status == 201, await written.text()
        for text, public in ((OWN_INTERNAL, False), (OWN_PUBLIC, True)):
            written = await client.post(one + "/comments", json={"text": text, "public": public}, headers=partner)
            assert written.status == 201, await written.text()

        # the partner: the public comments and its own (internal ones too), never the helpdesk's internal note
        answer = await client.get(one + "/history", headers=partner)
        assert answer.status == 200
        body = await answer.json()
        notes = [e["note"] for e in body["history"] if e["action"] == "comment"]
        assert notes == [PUBLIC, OWN_INTERNAL, OWN_PUBLIC]
        assert INTERNAL not in json.dumps(body, ensure_ascii=False)
        assert [e["action"] for e in body["history"]][:2] == ["created", "routed"]  # the rest is still there
        # the ticket itself (by id and by number) carries no comment at all
        for path in (one, A + f"/tickets/by-number/{world.numbers['ticket_a']}"):
            ticket = await client.get(path, headers=partner)
            assert ticket.status == 200 and INTERNAL not in await ticket.text(), path

        # an agent still sees everything, in order
        seen = await (await anna.get(one + "/history")).json()
        assert [e["note"] for e in seen["history"] if e["action"] == "comment"] == [
            INTERNAL, PUBLIC, OWN_INTERNAL, OWN_PUBLIC,
        ]  # fmt: skip
        assert [e["field"] for e in seen["history"] if e["action"] == "comment"] == [
            "internal", "public", "internal", "public",
        ]  # fmt: skip
    finally:
        await anna.session.close()
