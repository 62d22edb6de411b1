"""A tenant's SLA as data: the file's rules, the import (CLI too), and notifications delivered by the outbox."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from tests.outbox.sinks import SmtpSink, WebhookSink, new_secret, outbox_settings, text_of
from tests.sla.conftest import TENANT, World, berlin
from tests.support.sla_data import MANAGEMENT, sla_data
from tests.support.tenants import add_tenants
from uhd_telephony.outbox import OutboxWorker
from uhd_telephony.outbox.service import first_secret
from uhd_telephony.outbox.webhook import WebhookSender
from uhd_telephony.sla.calendar import SlaError
from uhd_telephony.sla.policy import contact_secret, contacts_for, import_sla, load_sla, parse_duration, parse_sla
from uhd_telephony.tickets.groups import webhook_secret

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sla.example.yaml"


def test_durations() -> None:
    assert [parse_duration(v, "x").total_seconds() for v in (900, "15m", "4h", "1h30m", "3d", "45s")] == [
        900, 900, 14400, 5400, 259200, 45
    ]  # fmt: skip
    for bad in ("", "4 hours", "0m", -5, True, "400d", 1.5):
        with pytest.raises(SlaError):
            parse_duration(bad, "x")


def test_the_example_file_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    from uhd_telephony.tickets.categories import load_file

    sla = parse_sla(TENANT, load_file(EXAMPLE), env={})
    assert sorted(sla.policies) == [1, 2, 3, 4, 5]
    assert sla.policies[1].around_the_clock and not sla.policies[2].around_the_clock
    assert sla.policies[5].warn_share == 0.9 and sla.policies[3].warn_share == 0.75
    assert sla.calendar.holiday_state == "NW"
    assert [c.name for c in contacts_for(sla, 1, "kis/orbis/letters")] == ["KIS-Koordination"]
    assert [c.name for c in contacts_for(sla, 1, "pacs/viewer")] == ["Teamleitung User Helpdesk"]
    assert [c.name for c in contacts_for(sla, 2, "kis")] == ["IT-Leitung Klinikum Nord"]
    assert [c.name for c in contacts_for(sla, 1, None)] == ["Teamleitung User Helpdesk"]
    # the hosting provider abroad reads its mails in English; a contact without a locale, German (None)
    (sap,) = contacts_for(sla, 1, "kis/sap-ish/admission")
    assert (sap.name, sap.locale) == ("SAP Hosting Service Desk", "en")
    assert {c.locale for c in sla.contacts if c is not sap} == {None}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"policies": {}}, "maps priorities"),
        ({"policies": {6: {"response": "1h", "resolution": "2h"}}}, "priority 1..5"),
        ({"policies": {3: {"response": "1h"}}}, "'resolution' is required"),
        ({"policies": {3: {"response": "1h", "resolution": "2h", "calendar": "weekdays"}}}, "business"),
        ({"warning_at": 1.5}, "between 0 and 1"),
        ({"unclassified_priority": 4, "policies": {3: {"response": "1h", "resolution": "2h"}}}, "has no policy"),
        ({"levels": {"warning": 0}}, "team lead"),
        ({"contacts": [{"name": "A", "level": 1}]}, "needs a 'mail' address or a 'webhook'"),
        ({"contacts": [{"name": "A", "level": 1, "mail": ["Anna <a@b.example>"]}]}, "plain addresses"),
        ({"contacts": [{"name": "A", "level": 1, "mail": ["a@b.example"], "category": "KIS Login"}]}, "path"),
        ({"contacts": [{"name": "A", "level": 1, "webhook": {"url": "https://x.example/h", "secret": "s3cr3t"}}]},
         "whsec_"),
        ({"contacts": [{"name": "A", "level": 1, "webhook": {"url": "https://x.example/h", "secret_env": "NOPE"}}]},
         "NOPE"),
        ({"escalate": True}, "unknown key"),
        ({"contacts": [{"name": "Partner", "level": 1, "mail": ["a@b.example"], "locale": "fr"}]},
         "contact 'Partner': 'locale' must be de \\(German\\) or en \\(English\\), got 'fr'"),
        ({"contacts": [{"name": "Partner", "level": 1, "mail": ["a@b.example"], "locale": 1}]}, "'locale' must be"),
    ],
)  # fmt: skip
def test_bad_sla_files_are_refused_naming_the_problem(change: dict[str, Any], message: str) -> None:
    with pytest.raises(SlaError, match=message) as caught:
        parse_sla(TENANT, sla_data(**change), env={})
    assert "s3cr3t" not in caught.value.message  # a secret is never echoed


async def test_a_reimport_replaces_the_sla(world: World) -> None:
    await import_sla(world.db, TENANT, sla_data(contacts=[
        {"name": "Neu", "level": 2, "mail": ["neu@x.example"]},
        {"name": "Partner", "level": 2, "mail": ["partner@x.example"], "locale": "en"},
    ]))  # fmt: skip
    async with world.db.engine.connect() as conn:
        sla = await load_sla(conn, TENANT, with_contacts=True)
    assert sla is not None and [(c.name, c.locale) for c in sla.contacts] == [("Neu", None), ("Partner", "en")]


async def uhd(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uhd_telephony", *args, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, **env},
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.slow
async def test_the_import_command(sqlite_url: str, tmp_path: Path) -> None:
    env = {"UHD_DATABASE_URL": sqlite_url}
    await add_tenants(sqlite_url, TENANT)
    rc, out, err = await uhd("import-sla", str(EXAMPLE), "--tenant", TENANT, env=env)
    assert rc == 0, err
    assert json.loads(out) == {"tenant": TENANT, "policies": 5, "contacts": 4, "armed": 0}
    broken = tmp_path / "broken.yaml"
    broken.write_text("calendar: {always: true}\npolicies: {3: {response: 2h, resolution: soon}}\n")
    rc, out, err = await uhd("import-sla", str(broken), "--tenant", TENANT, env=env)
    assert rc == 1 and out == ""
    assert "policy of priority 3, resolution: a duration like 15m" in err


async def test_escalations_reach_mail_and_signed_webhooks(
    world: World, smtp: SmtpSink, hooks: WebhookSink, sender: WebhookSender
) -> None:
    secret = new_secret()
    data = sla_data()
    data["contacts"].append({"name": "Service-Management", "level": 2, "webhook": {"url": hooks.url,
                                                                                   "secret": secret}})  # fmt: skip
    await import_sla(world.db, TENANT, data)
    ticket = await world.ticket()
    assert await world.scan(berlin(2026, 3, 2, 11, 0)) == 1  # the response breach
    worker = OutboxWorker(
        world.db,
        outbox_settings(world.url, smtp),
        webhooks=sender,
        secrets=first_secret(webhook_secret, contact_secret),
    )
    while await worker.run_once():
        pass
    (mail,) = smtp.to(MANAGEMENT)
    assert mail["Subject"] == f"[{ticket.number}] SLA verletzt: Reaktionszeit überschritten"
    assert f"https://helpdesk.example.org/tickets/{TENANT}/{ticket.id}" in text_of(mail)
    (hook,) = hooks.received
    payload = Webhook(secret).verify(hook.body, hook.headers)  # signed with the contact's key
    assert payload["type"] == "ticket.escalated"
    assert payload["data"]["escalation"]["kind"] == "breach" and payload["data"]["ticket"]["id"] == ticket.id
    assert payload["data"]["escalation"]["due_at"] == "2026-03-02T10:00:00.000Z"
    # resolved: the same contacts, on the same channels, hear that it was taken back
    world.at(berlin(2026, 3, 2, 11, 30))
    await world.move(ticket.id, "resolved", "Drucker getauscht")
    while await worker.run_once():
        pass
    _, cleared = smtp.to(MANAGEMENT)
    assert "zurückgenommen" in cleared["Subject"] and "Grund: Ticket gelöst" in text_of(cleared)
    _, hook = hooks.received
    payload = Webhook(secret).verify(hook.body, hook.headers)
    assert payload["type"] == "ticket.de_escalated"
    assert payload["data"]["escalation"]["reason"] == "ticket resolved"
    assert payload["data"]["escalation"]["de_escalated_at"] == "2026-03-02T10:30:00.000Z"
