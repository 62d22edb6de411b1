"""The OLA where partners and agents read tickets, and the escalation test through the admin API, on SQLite and
PostgreSQL: a partner's token lists its group's tickets with their OLA due times and never another group's; an
agent's read shows the group's clock as the OpenAPI document describes it; an admin runs the escalation test and
gets one line per contact and channel; anyone else may not, and a bad request writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator

from tests.outbox.sinks import SmtpSink, text_of
from tests.sla.ola.conftest import NO_OLA, PARTNER, PARTNER_MAIL, groups_data
from tests.support.sla_data import TEAM_LEAD, sla_data
from tests.support.webapp import PASSWORD, TENANT_A, TENANT_B, seed, web_settings
from tests.tickets.webapp import Api
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.app.web import init_app
from uhd_telephony.security.tokens import TokenService
from uhd_telephony.sla.ola_policy import import_ola
from uhd_telephony.sla.policy import import_sla
from uhd_telephony.store.db import Database
from uhd_telephony.tenants.service import TenantService
from uhd_telephony.tickets.groups import import_groups

TICKETS = "/api/tenants/{tenant}/tickets"
ONE = TICKETS + "/{ticket_id}"
SLA_TEST = "/api/admin/tenants/{tenant}/sla-test"
# around the clock: a routing's due times are its instant plus the targets, whenever the test runs
OLA = {"calendar": {"always": True}, "groups": {PARTNER: {"policies": {3: {"response": "1h", "resolution": "4h"}}}}}


@dataclass
class Tokens:
    medisoft: str  # the partner of the group with an OLA
    other: str  # a partner of another group of the same tenant


@pytest.fixture
async def tokens(db_url: str) -> Tokens:
    await seed(db_url)
    async with Database(db_url) as db:
        for tenant in (TENANT_A, TENANT_B):
            await TenantService(db).add(tenant, name=tenant.replace("-", " ").title())
            await import_groups(db, tenant, groups_data())
        await import_ola(db, TENANT_A, OLA)
        await import_sla(db, TENANT_A, sla_data(contacts=[{"name": "Teamleitung", "level": 1, "mail": [TEAM_LEAD]}]))
        accounts, issued = AccountService(db), TokenService(db)
        await accounts.create("olga", PASSWORD, role="admin", display_name="Olga Operator")
        made = []
        for name, group in (("medisoft", PARTNER), ("other", NO_OLA)):
            account = await accounts.create(name, PASSWORD, role="partner", tenants=[TENANT_A], partner_group=group)
            made.append((await issued.create(account.id, name=name, scopes=["tickets:read", "tickets:write"])).secret)
    return Tokens(*made)


@pytest.fixture
async def client(db_url: str, tokens: Tokens, smtp: SmtpSink, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    settings = web_settings(db_url, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_timeout_s=3.0,
                            mail_from="UHD Helpdesk <helpdesk@uhd.example>")  # fmt: skip
    yield await aiohttp_client(init_app(settings))


@pytest.fixture
async def spec(client: TestClient) -> dict[str, Any]:
    return dict(await (await client.get("/api/openapi.json")).json())


def _check(spec: dict[str, Any], path: str, method: str, status: int, instance: Any) -> None:
    """``instance`` is what the document says ``method path`` answers with ``status``."""
    response = spec["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = response["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": spec["components"]}).validate(instance)


async def _as_partner(client: TestClient, token: str, path: str) -> tuple[int, Any]:
    response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
    return response.status, await response.json()


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_a_partner_sees_the_due_times_of_its_own_tickets_only(
    client: TestClient, tokens: Tokens, spec: dict[str, Any]
) -> None:
    anna = await Api(client).login("anna")
    ours = await anna.create(subject="Laborschnittstelle")
    theirs = await anna.create(subject="Fremdes Ticket")
    unrouted = await anna.create(subject="Bleibt im 1st Level")
    routed = await anna.post(f"/tickets/{ours['id']}/route", {"group": PARTNER, "reason": "Herstellersupport"})
    await anna.post(f"/tickets/{theirs['id']}/route", {"group": NO_OLA, "reason": "andere Firma"})

    status, page = await _as_partner(client, tokens.medisoft, TICKETS.format(tenant=TENANT_A))
    assert status == 200
    _check(spec, TICKETS, "get", 200, page)
    assert [t["id"] for t in page["tickets"]] == [ours["id"]]
    ola = page["tickets"][0]["ola"]
    routed_at = _at(ola["routed_at"])
    assert ola["group"] == PARTNER and abs(routed_at - _at(routed["ticket"]["updated_at"])) < timedelta(seconds=1)
    assert _at(ola["response_due_at"]) == routed_at + timedelta(hours=1)
    assert _at(ola["resolution_due_at"]) == routed_at + timedelta(hours=4)
    assert (ola["state"], ola["response_state"], ola["paused"]) == ("ok", "ok", False)
    assert 3500 < ola["response_remaining_s"] <= 3600
    # the ticket read, by id and by number, carries the same; another group's ticket does not exist for it
    status, one = await _as_partner(client, tokens.medisoft, ONE.format(tenant=TENANT_A, ticket_id=ours["id"]))
    assert status == 200 and one["ticket"]["ola"]["response_due_at"] == ola["response_due_at"]
    _check(spec, ONE, "get", 200, one)
    for path in (ONE.format(tenant=TENANT_A, ticket_id=theirs["id"]),
                 f"{TICKETS.format(tenant=TENANT_A)}/by-number/{theirs['number']}",
                 f"{ONE.format(tenant=TENANT_A, ticket_id=theirs['id'])}/history"):  # fmt: skip
        status, body = await _as_partner(client, tokens.medisoft, path)
        assert status == 404 and theirs["subject"] not in str(body), (path, body)
    status, page = await _as_partner(client, tokens.medisoft, TICKETS.format(tenant=TENANT_A) + f"?group={NO_OLA}")
    assert (status, page["tickets"]) == (200, [])
    status, _ = await _as_partner(client, tokens.medisoft, TICKETS.format(tenant=TENANT_B))
    assert status == 404  # another tenant
    # the other partner's list: its ticket, no OLA for its group
    status, page = await _as_partner(client, tokens.other, TICKETS.format(tenant=TENANT_A))
    assert [(t["id"], t["ola"]) for t in page["tickets"]] == [(theirs["id"], None)]
    # the partner's response stops the response clock: met
    response = await client.post(
        ONE.format(tenant=TENANT_A, ticket_id=ours["id"]) + "/comments",
        json={"text": "We are on it.", "public": True}, headers={"Authorization": f"Bearer {tokens.medisoft}"},
    )  # fmt: skip
    assert response.status == 201
    status, one = await _as_partner(client, tokens.medisoft, ONE.format(tenant=TENANT_A, ticket_id=ours["id"]))
    assert (one["ticket"]["ola"]["response_state"], one["ticket"]["ola"]["response_due_at"]) == ("met", None)
    # an agent reads the same; an unrouted ticket has none
    assert (await anna.get(f"/tickets/{ours['id']}"))["ticket"]["ola"]["response_state"] == "met"
    assert (await anna.get(f"/tickets/{unrouted['id']}"))["ticket"]["ola"] is None


async def test_an_admin_tests_the_escalation_paths_through_the_api(
    client: TestClient, smtp: SmtpSink, spec: dict[str, Any]
) -> None:
    olga = await Api(client).login("olga")
    path = SLA_TEST.format(tenant=TENANT_A)
    answer = await olga.call("POST", path, {"timeout_s": 20}, expect=200)
    _check(spec, SLA_TEST, "post", 200, answer)
    assert answer["ok"] is True and answer["tenant"] == TENANT_A
    assert [(r["contact"], r["path"], r["channel"], r["status"]) for r in answer["results"]] == [
        ("Teamleitung", "sla", "mail", "delivered"), ("Medisoft", "ola", "mail", "delivered"),
    ]  # fmt: skip
    assert answer["results"][0]["text"].startswith("Teamleitung (SLA, Stufe 1) · E-Mail")
    assert sorted(m["To"] for m in smtp.mails()) == sorted([TEAM_LEAD, TEAM_LEAD, PARTNER_MAIL, PARTNER_MAIL])
    assert "gestartet von Olga Operator" in text_of(smtp.to(TEAM_LEAD)[0])
    # narrowed by a category: the printer's group (2nd level) has no OLA
    narrowed = await olga.call("POST", path, {"category": "hardware/printer"}, expect=200)
    assert [r["contact"] for r in narrowed["results"]] == ["Teamleitung"]


@pytest.mark.parametrize(
    ("tenant", "body", "status", "said"),
    [
        (TENANT_A, {"category": "kis/nothing"}, 400, "Kategorie „kis/nothing“"),
        (TENANT_A, {"timeout_s": 0}, 400, "Wartezeit"),
        (TENANT_A, {"timeout_s": 20, "extra": 1}, 400, None),
        (TENANT_B, {}, 409, "keinen Eskalationsweg"),
        ("klinikum-west", {}, 404, None),
    ],
)
async def test_a_bad_escalation_test_request_says_why_and_writes_nothing(
    client: TestClient, smtp: SmtpSink, tenant: str, body: dict[str, Any], status: int, said: str | None
) -> None:
    olga = await Api(client).login("olga")
    error = await olga.call("POST", SLA_TEST.format(tenant=tenant), body, expect=status)
    if said is not None:
        assert said in error["text"], error
    assert smtp.mails() == []


async def test_only_an_admin_runs_the_escalation_test(client: TestClient, tokens: Tokens) -> None:
    anna = await Api(client).login("anna")
    await anna.call("POST", SLA_TEST.format(tenant=TENANT_A), {}, expect=403)
    response = await client.post(SLA_TEST.format(tenant=TENANT_A), json={},
                                 headers={"Authorization": f"Bearer {tokens.medisoft}"})  # fmt: skip
    assert response.status == 403
