"""The tenants' helpdesk addresses: set by an admin (API) or the operator (``uhd-telephony mail-address``), refused
when bad, audited; the endpoint takes mail to exactly the addresses there are."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.mailin.conftest import Desk
from tests.mailin.sessions import NORD, deliver, mail
from tests.support.cli import uhd
from tests.support.webapp import PASSWORD, TENANT_A, TENANT_B, Seeded, login, web_settings
from uhd_telephony.accounts.service import AccountService
from uhd_telephony.app.web import init_app
from uhd_telephony.audit.log import AuditLog
from uhd_telephony.store.db import Database

API = "/api/admin/mail-addresses"


@pytest.fixture
async def admin(world: Seeded, aiohttp_client: Any) -> AsyncIterator[tuple[TestClient, dict[str, str]]]:
    async with Database(world.url) as db:
        await AccountService(db).create("olga", PASSWORD, role="admin", display_name="Olga Operator")
    client = await aiohttp_client(init_app(web_settings(world.url)))
    yield client, {"X-CSRF-Token": await login(client, "olga")}


async def test_an_admin_sets_and_removes_helpdesk_addresses(
    admin: tuple[TestClient, dict[str, str]], desk: Desk
) -> None:
    client, csrf = admin
    created = await client.post(API, json={"address": " IT@Klinikum-Nord.example ", "tenant": TENANT_A}, headers=csrf)
    assert created.status == 201
    address = (await created.json())["address"]
    assert address["address"] == "it@klinikum-nord.example" and address["tenant"] == TENANT_A
    listed = (await (await client.get(API)).json())["addresses"]
    assert {(a["address"], a["tenant"]) for a in listed} == {
        (NORD, TENANT_A), ("helpdesk@klinikum-sued.example", TENANT_B), ("it@klinikum-nord.example", TENANT_A)
    }  # fmt: skip
    answers = await deliver(desk.port, mail(), rcpts=["it@klinikum-nord.example"])
    assert answers["it@klinikum-nord.example"].code == 250  # taken at once, by the running endpoint
    removed = await client.delete(f"{API}/{address['id']}", headers=csrf)
    assert removed.status == 200 and (await removed.json())["address"]["address"] == "it@klinikum-nord.example"
    assert (await client.delete(f"{API}/{address['id']}", headers=csrf)).status == 404
    answers = await deliver(desk.port, mail(), rcpts=["it@klinikum-nord.example"])
    assert answers["it@klinikum-nord.example"].code == 550  # refused from now on: the mail server bounces
    audit = await AuditLog(desk.db).page()
    assert [(e.action, e.actor, e.details) for e in audit.entries[:2]] == [
        ("mail_address_removed", "olga", {"address": "it@klinikum-nord.example"}),
        ("mail_address_added", "olga", {"address": "it@klinikum-nord.example"}),
    ]


BAD = [
    ({"address": NORD.upper(), "tenant": TENANT_B}, 409,
     "Die Adresse „helpdesk@klinikum-nord.example“ ist bereits eine Helpdesk-Adresse."),
    ({"address": "no address", "tenant": TENANT_A}, 400, "„no address“ ist keine E-Mail-Adresse."),
    ({"address": "a@b\r\nBcc: c@d", "tenant": TENANT_A}, 400, None),
    ({"address": "x@klinikum.example", "tenant": "klinikum-west"}, 400,
     "Den Mandanten „klinikum-west“ gibt es nicht: bitte zuerst anlegen."),
    ({"address": "x@klinikum.example"}, 400, None),
    ({"address": "x@klinikum.example", "tenant": TENANT_A, "extra": 1}, 400, None),
]  # fmt: skip


async def test_bad_addresses_are_refused_clearly_and_write_nothing(admin: tuple[TestClient, dict[str, str]]) -> None:
    client, csrf = admin
    before = (await (await client.get(API)).json())["addresses"]
    for body, status, text in BAD:
        answer = await client.post(API, json=body, headers=csrf)
        error = await answer.json()
        assert answer.status == status, (body, error)
        assert text is None or error["text"] == text, error
    assert (await (await client.get(API)).json())["addresses"] == before


async def test_only_admins_set_addresses(world: Seeded, aiohttp_client: Any) -> None:
    client = await aiohttp_client(init_app(web_settings(world.url)))
    assert (await client.get(API)).status == 401
    csrf = {"X-CSRF-Token": await login(client, "anna")}
    assert (await client.get(API)).status == 403
    body = {"address": "x@klinikum-nord.example", "tenant": TENANT_A}
    assert (await client.post(API, json=body, headers=csrf)).status == 403


@pytest.mark.slow  # subprocesses
async def test_the_command_line_sets_lists_and_removes_addresses(world: Seeded) -> None:
    env = {"UHD_DATABASE_URL": world.url}
    code, out, err = await uhd("mail-address", "add", "Support@Klinikum-Sued.example", "--tenant", TENANT_B, env=env)
    assert code == 0, err
    assert json.loads(out)["address"] == "support@klinikum-sued.example"
    code, out, _ = await uhd("mail-address", "list", "--tenant", TENANT_B, env=env)
    assert code == 0 and [json.loads(line)["address"] for line in out.splitlines()] == [
        "helpdesk@klinikum-sued.example", "support@klinikum-sued.example",
    ]  # fmt: skip
    code, _, err = await uhd("mail-address", "add", "support@klinikum-sued.example", "--tenant", TENANT_A, env=env)
    assert code == 1 and "is a helpdesk address already" in err and "Traceback" not in err
    code, _, err = await uhd("mail-address", "add", "x@y.example", "--tenant", "klinikum-west", env=env)
    assert code == 1 and "klinikum-west" in err and "Traceback" not in err
    code, _, err = await uhd("mail-address", "add", "not-an-address", "--tenant", TENANT_A, env=env)
    assert code == 1 and "not a mail address" in err
    code, out, _ = await uhd("mail-address", "remove", "SUPPORT@klinikum-sued.example", env=env)
    assert code == 0 and json.loads(out)["tenant"] == TENANT_B
    code, _, err = await uhd("mail-address", "remove", "support@klinikum-sued.example", env=env)
    assert code == 1 and "no helpdesk address" in err
