"""The escalation test (``uhd-telephony sla test``, ``sla.drill``) on SQLite and PostgreSQL, against a real SMTP
server and a real webhook receiver: every path — each SLA contact, each group with an OLA — gets a marked test
warning and breach on each channel, the outbox's own sender delivers exactly those, one line per contact and
channel says delivered or failed and why; a path that fails makes it exit 1; nothing of it reaches a ticket, its
history, an escalation or a figure; an unknown tenant or category is one line and writes nothing."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from tests.outbox.sinks import SmtpSink, WebhookSink, outbox_settings, text_of
from tests.sla.conftest import TENANT, World
from tests.support.cli import uhd
from tests.support.sla_data import KIS_LEAD, MANAGEMENT, TEAM_LEAD, sla_data
from tests.support.tenants import add_tenants
from uhd_telephony.app.schema import metadata
from uhd_telephony.errors import Conflict, InvalidInput
from uhd_telephony.sla.drill import EscalationDrill
from uhd_telephony.sla.ola_policy import import_ola
from uhd_telephony.sla.policy import import_sla
from uhd_telephony.store.db import Database
from uhd_telephony.tickets.groups import import_groups

SLA_SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
GROUP_SECRET = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
DEDALUS = "partner:dedalus"
DEDALUS_MAIL = "support@dedalus.example"


async def _paths(world: World, hooks: WebhookSink, *, failing: bool = False) -> None:
    """The tenant's SLA contacts (IT-Leitung with a webhook) and Dedalus with an OLA, mail in English and a
    webhook of its own; ``failing``: IT-Leitung's webhook points at a path the receiver answers 404 on."""
    hook = hooks.url.replace("/hook", "/gone") if failing else hooks.url
    contacts = [
        {"name": "Teamleitung", "level": 1, "mail": [TEAM_LEAD]},
        {"name": "KIS-Koordination", "level": 1, "category": "kis", "mail": [KIS_LEAD]},
        {"name": "IT-Leitung", "level": 2, "mail": [MANAGEMENT], "webhook": {"url": hook, "secret": SLA_SECRET}},
    ]
    await import_sla(world.db, TENANT, sla_data(contacts=contacts))
    await import_groups(world.db, TENANT, [
        {"code": DEDALUS, "name": "Dedalus", "mail": [DEDALUS_MAIL], "locale": "en",
         "webhook": {"url": hooks.url + "?from=dedalus", "secret": GROUP_SECRET}},
    ])  # fmt: skip
    targets = {"policies": {3: {"response": "1h", "resolution": "4h"}}}
    await import_ola(world.db, TENANT, {"calendar": {"always": True}, "groups": {DEDALUS: targets}})


async def _counts(db: Database) -> dict[str, int]:
    """Rows of every table but the outbox: what "nothing else written" compares."""
    async with db.engine.connect() as conn:
        return {name: (await conn.execute(select(func.count()).select_from(t))).scalar_one()
                for name, t in metadata.tables.items() if name != "outbox"}  # fmt: skip


def _drill(world: World, smtp: SmtpSink) -> EscalationDrill:
    return EscalationDrill(world.db, outbox_settings(world.url, smtp))


async def test_every_path_gets_a_marked_warning_and_breach_and_nothing_else_is_written(
    world: World, smtp: SmtpSink, hooks: WebhookSink
) -> None:
    await _paths(world, hooks)
    ticket = await world.ticket()  # a ticket of the tenant: the test leaves it alone
    before = await _counts(world.db)
    result = await _drill(world, smtp).run(TENANT, actor="cli")
    assert result.ok, [line.text(result.names, "de") for line in result.lines]
    lines = [(line.path.contact.name, line.channel, line.status) for line in result.lines]
    assert lines == [
        ("Teamleitung", "mail", "delivered"), ("KIS-Koordination", "mail", "delivered"),
        ("IT-Leitung", "mail", "delivered"), ("IT-Leitung", "webhook", "delivered"),
        ("Dedalus", "mail", "delivered"), ("Dedalus", "webhook", "delivered"),
    ]  # fmt: skip
    texts = [line.text(result.names, "de") for line in result.lines]
    assert texts[0].startswith(f"Teamleitung (SLA, Stufe 1) · E-Mail {TEAM_LEAD} · zugestellt · "), texts
    assert texts[1].startswith("KIS-Koordination (SLA, Stufe 1, Kategorie KIS"), texts
    assert texts[5].startswith("Dedalus (OLA der Gruppe Dedalus) · Webhook http://127.0.0.1:"), texts
    assert all(line.seconds is not None and 0 < line.seconds < 30 for line in result.lines)

    # the mails: a warning and a breach to each, "[TEST]" first, in the recipient's language
    subjects = sorted((msg["To"], msg["Subject"]) for msg in smtp.mails())
    assert subjects == sorted([
        (TEAM_LEAD, "[TEST] Eskalationstest: SLA-Warnung"), (TEAM_LEAD, "[TEST] Eskalationstest: SLA-Verletzung"),
        (KIS_LEAD, "[TEST] Eskalationstest: SLA-Warnung"), (KIS_LEAD, "[TEST] Eskalationstest: SLA-Verletzung"),
        (MANAGEMENT, "[TEST] Eskalationstest: SLA-Warnung"), (MANAGEMENT, "[TEST] Eskalationstest: SLA-Verletzung"),
        (DEDALUS_MAIL, "[TEST] Escalation test: OLA warning"), (DEDALUS_MAIL, "[TEST] Escalation test: OLA breach"),
    ])  # fmt: skip
    german = text_of(smtp.to(TEAM_LEAD)[0])
    assert "Dies ist ein Test der Eskalationswege" in german and "gestartet von Kommandozeile" in german
    assert "Kein Ticket ist betroffen" in german and ticket.number not in german
    # the webhooks: the escalation's envelope marked "test": true, signed with each path's own key
    assert len(hooks.received) == 4
    for hook in hooks.received:
        body = json.loads(hook.body)
        assert body["test"] is True and body["data"]["ticket"] is None
        secret = GROUP_SECRET if body["type"] == "ticket.ola_escalated" else SLA_SECRET
        Webhook(secret).verify(hook.body, hook.headers)
    kinds = sorted(
        (json.loads(h.body)["type"], json.loads(h.body)["data"]["escalation"]["kind"]) for h in hooks.received
    )
    assert kinds == [("ticket.escalated", "breach"), ("ticket.escalated", "warning"),
                     ("ticket.ola_escalated", "breach"), ("ticket.ola_escalated", "warning")]  # fmt: skip

    # nothing but the outbox's own rows: no ticket, history row, escalation, timer or figure
    assert await _counts(world.db) == before
    rows = await world.outbox()
    assert len(rows) == 12 and all(r["status"] == "sent" and r["ticket_id"] is None for r in rows)
    assert all(r["dedupe_key"].startswith(f"sla-test:{result.run}:") for r in rows)
    # the API's shape of it
    shown = result.to_dict("en")
    assert shown["ok"] is True and shown["results"][0]["text"].startswith("Teamleitung (SLA, level 1) · mail")


async def test_a_category_narrows_to_the_contacts_its_tickets_reach(
    world: World, smtp: SmtpSink, hooks: WebhookSink
) -> None:
    await _paths(world, hooks)
    orbis = await _drill(world, smtp).run(TENANT, "kis/orbis/letters")  # KIS branch; worked by Dedalus
    assert [(line.path.contact.name, line.channel) for line in orbis.lines] == [
        ("KIS-Koordination", "mail"), ("IT-Leitung", "mail"), ("IT-Leitung", "webhook"), ("Dedalus", "mail"),
        ("Dedalus", "webhook"),
    ]  # fmt: skip
    printer = await _drill(world, smtp).run(TENANT, "hardware/printer")  # tenant-wide; 2nd level has no OLA
    assert [(line.path.contact.name, line.channel) for line in printer.lines] == [
        ("Teamleitung", "mail"),
        ("IT-Leitung", "mail"),
        ("IT-Leitung", "webhook"),
    ]


async def test_a_failing_webhook_is_a_failed_line_that_says_why(
    world: World, smtp: SmtpSink, hooks: WebhookSink
) -> None:
    await _paths(world, hooks, failing=True)
    result = await _drill(world, smtp).run(TENANT)
    assert not result.ok
    failed = [line for line in result.lines if line.status == "failed"]
    assert [(line.path.contact.name, line.channel) for line in failed] == [("IT-Leitung", "webhook")]
    assert "answered 404 Not Found" in (failed[0].reason or "")
    assert "fehlgeschlagen: webhook http://127.0.0.1:" in failed[0].text(result.names, "de")
    assert result.summary("de") == "5 von 6 Wegen zugestellt"
    # given up: the outbox sends no test message later
    rows = [r for r in await world.outbox() if r["target"].endswith("/gone")]
    assert len(rows) == 2 and all(r["status"] == "failed" for r in rows)


async def test_an_unreachable_relay_fails_every_mail_line_with_the_reason_and_retries_nothing(
    world: World, hooks: WebhookSink
) -> None:
    await _paths(world, hooks)
    down = SmtpSink()  # a relay that is not running
    result = await EscalationDrill(world.db, outbox_settings(world.url, down, smtp_timeout_s=2.0)).run(TENANT)
    statuses = {(line.path.contact.name, line.channel): (line.status, line.reason) for line in result.lines}
    assert statuses[("IT-Leitung", "webhook")] == ("delivered", None)
    mail = statuses[("Teamleitung", "mail")]
    assert mail[0] == "failed" and "unreachable" in (mail[1] or "")
    pending = [r for r in await world.outbox() if r["channel"] == "mail"]
    assert pending and all(r["status"] == "failed" for r in pending)  # no retry after the test


async def test_no_result_within_the_timeout_is_a_failed_line(world: World, smtp: SmtpSink, hooks: WebhookSink) -> None:
    await _paths(world, hooks)
    hooks.delay_s = 3.0  # a receiver slower than the test waits
    result = await _drill(world, smtp).run(TENANT, timeout_s=1.0)
    slow = [line for line in result.lines if line.channel == "webhook"]
    assert [line.status for line in slow] == ["timed_out", "timed_out"] and not result.ok
    assert "kein Ergebnis innerhalb der Wartezeit" in slow[0].text(result.names, "de")
    rows = [r for r in await world.outbox() if r["channel"] == "webhook"]
    assert rows and all(r["status"] == "failed" for r in rows)  # abandoned mid-send: not sent again later


async def test_unknown_category_no_path_and_a_bad_timeout_write_nothing(world: World, smtp: SmtpSink) -> None:
    drill = _drill(world, smtp)
    with pytest.raises(Conflict, match="no escalation path"):
        await drill.run("klinikum-sued")
    await import_sla(world.db, TENANT, sla_data())
    with pytest.raises(InvalidInput, match="unknown category 'kis/nothing'"):
        await drill.run(TENANT, "kis/nothing")
    with pytest.raises(InvalidInput, match="timeout"):
        await drill.run(TENANT, timeout_s=0)
    assert await world.outbox() == []


# -- the command ----------------------------------------------------------------------------------------------------


def _env(url: str, smtp: SmtpSink) -> dict[str, str]:
    return {"UHD_DATABASE_URL": url, "UHD_SMTP_HOST": "127.0.0.1", "UHD_SMTP_PORT": str(smtp.port),
            "UHD_MAIL_FROM": "UHD Helpdesk <helpdesk@uhd.example>", "UHD_SMTP_TIMEOUT_S": "3"}  # fmt: skip


@pytest.mark.slow
async def test_the_command_prints_a_line_per_contact_and_channel_and_exits_1_when_one_failed(
    world: World, smtp: SmtpSink, hooks: WebhookSink
) -> None:
    await add_tenants(world.url, TENANT)
    await _paths(world, hooks, failing=True)
    rc, out, err = await uhd("sla", "test", "--tenant", TENANT, "--timeout", "20", env=_env(world.url, smtp))
    assert rc == 1, err
    lines = out.strip().splitlines()
    assert len(lines) == 7 and lines[-1] == "5 von 6 Wegen zugestellt"
    assert lines[3].startswith("IT-Leitung (SLA, Stufe 2) · Webhook http://127.0.0.1:")
    assert "fehlgeschlagen: webhook http" in lines[3] and "answered 404 Not Found" in lines[3]
    assert all("zugestellt" in line for line in lines[:3] + lines[4:6])
    await import_sla(world.db, TENANT, sla_data())  # no failing webhook: every path delivers
    rc, out, _ = await uhd("sla", "test", "--tenant", TENANT, "--locale", "en", env=_env(world.url, smtp))
    assert rc == 0 and out.strip().splitlines()[-1] == "5 of 5 paths delivered", out  # the SLA mails, Dedalus


@pytest.mark.slow
async def test_the_command_names_an_unknown_tenant_or_category_in_one_line(world: World, smtp: SmtpSink) -> None:
    await add_tenants(world.url, TENANT)
    await import_sla(world.db, TENANT, sla_data())
    for args, said in (
        (("--tenant", "klinikum-nrod"), "unknown tenant 'klinikum-nrod'"),
        (("--tenant", TENANT, "--category", "kis/nothing"), "unknown category 'kis/nothing' of tenant"),
    ):
        rc, out, err = await uhd("sla", "test", *args, env=_env(world.url, smtp))
        assert (rc, out) == (1, "") and len(err.strip().splitlines()) == 1 and said in err, err
    assert await world.outbox() == [] and smtp.mails() == []
