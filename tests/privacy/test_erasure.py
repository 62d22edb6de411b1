"""Erasure (Art. 17) and export (Art. 15) of one person: every place found, removed or pseudonymised, pending mail
never sent, audited without the data; the API's roles and tenants; hostile selectors; the command line."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests.privacy.rows import MUELLER, World, audit, days_ago
from tests.support.cli import uhd
from tests.support.webapp import PASSWORD, TENANT_A, TENANT_B, login, web_settings
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.app.web import init_app
from uhd_telephony.directory.models import PHONES, USERS
from uhd_telephony.errors import InvalidInput
from uhd_telephony.feedback.models import ratings
from uhd_telephony.mailin.models import attachments, messages
from uhd_telephony.outbox.models import outbox
from uhd_telephony.privacy.person import selector
from uhd_telephony.privacy.pseudonyms import NAME_PREFIX, TOKEN_PREFIX
from uhd_telephony.privacy.rules import callbacks, calls, subscriptions
from uhd_telephony.privacy.service import PersonData
from uhd_telephony.tickets.models import TicketHistory
from uhd_telephony.tickets.view import tickets

A, B = TENANT_A, TENANT_B
EVERY_PLACE = ("directory", "tickets", "calls", "callbacks", "incident_subscriptions", "mail_in_messages",
               "satisfaction_comments", "outbox")  # fmt: skip


async def mueller_id(world: World, tenant: str) -> int:
    async with world.db.engine.connect() as conn:
        stmt = select(USERS.c.id).where(USERS.c.tenant == tenant, USERS.c.external_id == "P-10001")
        return int((await conn.execute(stmt)).scalar_one())


async def spread(world: World, tenant: str) -> dict[str, int]:
    """Dr. Müller in every place of ``tenant``, plus a stranger's rows beside his."""
    user = await mueller_id(world, tenant)
    ids = {
        "ticket": await world.ticket(tenant, days_ago(3), status="new", user_id=user, name=MUELLER["name"],
                                     number="+492319860572", email=MUELLER["email"]),
        "ticket_by_mobile": await world.ticket(tenant, days_ago(2), name="Jürgen", number="0171 2345678"),
        "call": await world.call(tenant, days_ago(3), number="02319860572", name="Mueller J"),
        "call_mobile": await world.call(tenant, days_ago(2), number="+491712345678", name=""),
        "callback": await world.callback(tenant, days_ago(1), status="open", number="0231 9860572"),
        "subscription": await world.subscription(tenant, days_ago(1), number="+492319860572", notified=False,
                                                 email=MUELLER["email"]),
        "stranger": await world.ticket(tenant, days_ago(3), status="new", name="Hans Anrufer"),
        "stranger_call": await world.call(tenant, days_ago(3)),
    }  # fmt: skip
    ids["mail"] = await world.mail(tenant, days_ago(3), ids["ticket"], sender=MUELLER["email"])
    ids["rating"] = await world.rating(tenant, days_ago(1), ids["ticket"], comment="Danke, Herr Müller!")
    greeting = {"text": f"Guten Tag {MUELLER['name']}"}
    ids["pending"] = await world.outbox(tenant, days_ago(0), status="pending", target=MUELLER["email"],
                                        ticket_id=ids["ticket"], body=greeting)  # fmt: skip
    order = {"text": f"Anrufer: {MUELLER['name']}, +492319860572"}
    ids["work_order"] = await world.outbox(tenant, days_ago(0), status="pending", target="2nd@it.example",
                                           ticket_id=ids["ticket"], body=order)  # fmt: skip
    return ids


async def test_an_erasure_finds_every_place_and_keeps_the_rows_figures_read(world: World) -> None:
    mine, theirs = await spread(world, A), await spread(world, B)
    persons = PersonData(world.db)
    who = selector(number="0231 98 60 572")
    planned = await persons.erase(A, who, actor="olga", dry_run=True)
    assert {place for place, n in planned.items() if n} == set(EVERY_PLACE)
    assert planned["tickets"] == 2 and planned["calls"] == 2 and planned["outbox"] == 2
    assert await world.count(audit, audit.c.action == "person_erased") == 0  # the dry run wrote nothing
    assert (await world.row(tickets, mine["ticket"])).requester_name == MUELLER["name"]
    done = await persons.erase(A, who, actor="olga", ip="192.0.2.7")
    assert done == planned
    assert await persons.erase(A, who, actor="olga", dry_run=True) == dict.fromkeys(planned, 0)
    ticket = await world.row(tickets, mine["ticket"])
    assert ticket.requester_name.startswith(NAME_PREFIX) and ticket.requester_number.startswith(TOKEN_PREFIX)
    assert (ticket.requester_user_id, ticket.requester_email, ticket.status) == (None, None, "new")
    assert "Müller" not in ticket.subject + ticket.description
    async with world.db.engine.connect() as conn:
        texts = (await conn.execute(select(TicketHistory.note, TicketHistory.new_value)
                                    .where(TicketHistory.ticket_id == mine["ticket"]))).all()  # fmt: skip
    assert texts and not any("Müller" in str(t) or "+492319860572" in str(t) for t in texts)
    assert (await world.row(tickets, mine["ticket_by_mobile"])).requester_number.startswith(TOKEN_PREFIX)
    call = await world.row(calls, mine["call"])
    assert (call.caller_number, call.caller_name, call.outcome) == ("+49 231 ***", "", "answered")
    assert (await world.row(calls, mine["call_mobile"])).caller_number == "+49 171 ***"
    assert await world.row(callbacks, mine["callback"]) is None
    sub = await world.row(subscriptions, mine["subscription"])
    assert sub.number.startswith(TOKEN_PREFIX) and sub.email is None
    assert await world.count(attachments, attachments.c.mail_id == mine["mail"]) == 0
    assert (await world.row(messages, mine["mail"])).sender.startswith(TOKEN_PREFIX)
    assert (await world.row(ratings, mine["rating"])).comment == ""
    assert await world.row(outbox, mine["pending"]) is None  # the mail to him is never sent
    order = await world.row(outbox, mine["work_order"])
    assert order.status == "pending" and "Müller" not in json.dumps(order.body, ensure_ascii=False)
    assert "+492319860572" not in json.dumps(order.body)
    assert await world.count(USERS, USERS.c.tenant == A, USERS.c.external_id == "P-10001") == 0
    assert await world.count(PHONES, PHONES.c.tenant == A, PHONES.c.number == "+492319860572") == 0
    # the stranger and tenant B's Dr. Müller are untouched
    assert (await world.row(tickets, mine["stranger"])).requester_name == "Hans Anrufer"
    assert (await world.row(calls, mine["stranger_call"])).caller_name == "Hans Anrufer"
    assert (await world.row(tickets, theirs["ticket"])).requester_name == MUELLER["name"]
    assert await world.row(outbox, theirs["pending"]) is not None
    assert await world.count(USERS, USERS.c.tenant == B, USERS.c.external_id == "P-10001") == 1
    # audited: who, when, the selector hashed, the counts; never the number, name or address
    async with world.db.engine.connect() as conn:
        entry = (await conn.execute(select(audit).where(audit.c.action == "person_erased"))).one()
    assert (entry.actor, entry.target, entry.ip) == ("olga", f"tenant:{A}", "192.0.2.7")
    assert entry.details["selector"] == "number" and entry.details["counts"] == done
    assert len(entry.details["selector_hmac"]) == 64
    text = json.dumps(entry.details, ensure_ascii=False)
    assert not any(s in text for s in ("9860572", "Müller", "juergen", "0231"))


@pytest.mark.parametrize("kind", ["email", "user_id"])
async def test_every_selector_finds_the_same_person(world: World, kind: str) -> None:
    await spread(world, A)
    value: Any = MUELLER["email"].upper() if kind == "email" else await mueller_id(world, A)
    planned = await PersonData(world.db).erase(A, selector(**{kind: value}), actor="olga", dry_run=True)
    assert {place for place, n in planned.items() if n} == set(EVERY_PLACE)


@pytest.mark.parametrize(
    "given",
    [{}, {"number": "1", "email": "a@b.de"}, {"email": "no address"}, {"email": "a@b\x00.de"}, {"number": ""},
     {"number": "x" * 65}, {"number": "02\x00319"}, {"user_id": 0}, {"user_id": True}, {"user_id": 2**63}],
)  # fmt: skip
def test_hostile_selectors_are_refused(given: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        selector(**given)


async def test_a_selector_that_matches_nobody_erases_nothing(world: World) -> None:
    await spread(world, A)
    before = await world.dump()
    for who in (selector(number="+49 89 1234567"), selector(email="%@%"), selector(user_id=999_999),
                selector(number="anonymous")):  # fmt: skip
        try:
            found = await PersonData(world.db).erase(A, who, actor="olga")
        except InvalidInput:
            continue
        assert set(found.values()) == {0}
    after = await world.dump()
    entries = after.pop("audit_log")  # the request itself is audited, with its counts of nothing
    before.pop("audit_log")
    assert after == before and len(entries) == 3


async def test_an_export_bundles_every_place_and_is_audited(world: World) -> None:
    await spread(world, A)
    bundle = await PersonData(world.db).export(A, selector(email=MUELLER["email"]), actor="olga")
    assert {place for place, rows in bundle["places"].items() if rows} == set(EVERY_PLACE)
    assert bundle["places"]["directory"][0]["name"] == MUELLER["name"]
    json.dumps(bundle)  # JSON as it is: instants as text, no bytes
    assert await world.count(audit, audit.c.action == "person_exported") == 1


# ------------------------------------------------------------------------------------------------------------ API
@pytest.fixture
async def clients(world: World, aiohttp_client: Any) -> AsyncIterator[dict[str, tuple[TestClient, dict[str, str]]]]:
    async with world.db.sessionmaker():
        pass
    accounts = AccountService(world.db)
    await accounts.create("olga", PASSWORD, role="admin", display_name="Olga Operator")
    await accounts.create("mona", PASSWORD, role="manager", display_name="Mona Lead", tenants=[A])
    await accounts.create("dora", PASSWORD, role="dpo", display_name="Dora Datenschutz", tenants=[A])
    out = {}
    for name in ("olga", "mona", "anna", "dora"):
        client = await aiohttp_client(init_app(web_settings(str(world.db.engine.url.render_as_string(False)))))
        out[name] = (client, {"X-CSRF-Token": await login(client, name)})
    yield out


async def test_the_api_erases_exports_and_sets_periods_for_admins(world: World, clients: Any) -> None:
    await spread(world, A)
    client, csrf = clients["olga"]
    base = f"/api/tenants/{A}/privacy"
    got = await client.get(base + "/retention")
    assert got.status == 200 and {p["data_class"] for p in (await got.json())["periods"]} >= {"call_numbers"}
    put = await client.put(base + "/retention", json={"data_class": "callbacks", "days": 30}, headers=csrf)
    assert put.status == 200 and (await put.json())["period"]["set_by"] == "olga"
    bad = await client.put(base + "/retention", json={"data_class": "audit_log", "days": 3}, headers=csrf)
    assert bad.status == 400 and "90" in (await bad.json())["message"]
    bad = await client.put(base + "/retention", json={"data_class": "callbacks", "days": -1}, headers=csrf)
    assert bad.status == 400
    dry = await client.post(base + "/erasures", json={"email": MUELLER["email"], "dry_run": True}, headers=csrf)
    assert dry.status == 200 and (await dry.json())["erased"] is False
    exported = await client.post(base + "/exports", json={"email": MUELLER["email"]}, headers=csrf)
    assert exported.status == 200 and (await exported.json())["places"]["directory"]
    done = await client.post(base + "/erasures", json={"email": MUELLER["email"]}, headers=csrf)
    assert done.status == 200 and (await done.json())["counts"]["directory"] == 1
    for body in ({"email": "x", "number": "1"}, {"user_id": "7"}, {"email": MUELLER["email"], "extra": 1}, {}):
        refused = await client.post(base + "/erasures", json=body, headers=csrf)
        assert refused.status == 400, body


async def test_other_roles_and_other_tenants_are_refused(world: World, clients: Any) -> None:
    theirs = await spread(world, B)
    for name in ("mona", "anna"):
        client, csrf = clients[name]
        for path in ("/erasures", "/exports"):
            r = await client.post(f"/api/tenants/{A}/privacy{path}", json={"number": "0231 9860572"}, headers=csrf)
            assert r.status == 403
    # the tenant's data-protection officer: its own tenant's requests, never another's; the periods are the admins'
    client, csrf = clients["dora"]
    put = await client.put(f"/api/tenants/{A}/privacy/retention", json={"data_class": "callbacks", "days": 30},
                           headers=csrf)  # fmt: skip
    assert put.status == 403
    for path in ("/erasures", "/exports"):
        r = await client.post(f"/api/tenants/{B}/privacy{path}", json={"number": "0231 9860572"}, headers=csrf)
        assert r.status == 404
    assert (await client.get(f"/api/tenants/{B}/privacy/retention")).status == 404
    assert (await client.post(f"/api/tenants/{A}/privacy/exports", json={"number": "0231 9860572"},
                              headers=csrf)).status == 200  # fmt: skip
    assert (await world.row(tickets, theirs["ticket"])).requester_name == MUELLER["name"]
    assert await world.row(outbox, theirs["pending"]) is not None


# ---------------------------------------------------------------------------------------------------- command line
async def test_the_command_line_plans_applies_and_erases(world: World) -> None:
    ids = await spread(world, A)
    old = await world.call(A, days_ago(400))
    env = {"UHD_DATABASE_URL": world.db.engine.url.render_as_string(False)}
    code, out, err = await uhd("retention", "--tenant", A, "--dry-run", env=env)
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith(f"{A}: Rufnummern in Anrufdaten"))
    assert "(183 Tage): 1:" in line and "Vorwahl" in line and "ältester vom" in line
    assert "Traceback" not in err and (await world.row(calls, old)).caller_name == "Hans Anrufer"
    code, out, err = await uhd("retention", "--tenant", A, env=env)
    assert code == 0, err
    assert (await world.row(calls, old)).caller_name == ""
    code, _, err = await uhd("retention", "--tenant", "klinikum-west", "--dry-run", env=env)
    assert code == 1 and "klinikum-west" in err and len(err.strip().splitlines()) == 1
    code, out, err = await uhd("retention", "set", "callbacks", "14", "--tenant", A, env=env)
    assert code == 0 and json.loads(out)["days"] == 14, err
    code, _, err = await uhd("retention", "set", "audit_log", "10", env=env)
    assert code == 1 and "90" in err and "Traceback" not in err
    code, out, err = await uhd("erase-person", "--tenant", A, "--number", "0231 9860572", "--dry-run", env=env)
    assert code == 0 and json.loads(out)["counts"]["tickets"] == 2, err
    code, out, err = await uhd("erase-person", "--tenant", A, "--email", MUELLER["email"], env=env)
    assert code == 0 and json.loads(out)["erased"] is True, err
    assert await world.row(outbox, ids["pending"]) is None
    code, _, err = await uhd("erase-person", "--tenant", A, "--email", "not an address", env=env)
    assert code == 1 and "not a mail address" in err and "Traceback" not in err
