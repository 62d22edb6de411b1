"""Issue 16: an SLA contact reads its mails in its own language (``locale`` in the SLA file; German without one):
the escalation and the all-clear, business hours and people included; the webhook's JSON stays the same."""

from __future__ import annotations

from typing import Any

from tests.outbox.sinks import new_secret
from tests.sla.conftest import TENANT, World, berlin
from tests.support.sla_data import TEAM_LEAD, sla_data
from tests.tickets.test_history_text import RAW
from uhd_telephony.sla.policy import import_sla

PARTNER = "servicedesk@partner.example.com"


def _mails(rows: list[dict[str, Any]], prefix: str) -> dict[str, tuple[str, str]]:
    """recipient -> (subject, text) of the outbox's mails whose dedupe key starts with ``prefix``."""
    return {
        r["target"]: (r["subject"], r["body"]["text"])
        for r in rows
        if r["dedupe_key"].startswith(prefix) and r["channel"] == "mail"
    }


async def test_each_contact_of_one_escalation_reads_it_in_its_own_language(world: World) -> None:
    data = sla_data()
    data["contacts"].append({"name": "Partner Service Desk", "level": 1, "mail": [PARTNER], "locale": "en"})
    await import_sla(world.db, TENANT, data, now=berlin(2026, 2, 1, 9, 0))
    ticket = await world.ticket()  # Monday 09:00, priority 3: response 2 h
    assert await world.scan(berlin(2026, 3, 2, 10, 30)) == 1  # the response warning, to both level-1 contacts

    mails = _mails(await world.outbox(), "escalation:")
    assert set(mails) == {TEAM_LEAD, PARTNER}
    subject, text = mails[PARTNER]
    assert subject.startswith(f"[{ticket.number}] SLA warning: 75") and "of the response time used" in subject
    for expected in (
        "Priority: no priority",
        "Status: New, group: 1st level support",
        "Category: not classified",
        "Due: 2 Mar 2026, 10:30",
        "(Mon 08:00–17:00; Tue 08:00–17:00; Wed 08:00–17:00; Thu 08:00–17:00; Fri 08:00–17:00, without the "
        "public holidays (Nordrhein-Westfalen))",
        "Escalation level: 1 (Partner Service Desk)",
        "Times in German local time (Europe/Berlin).",
    ):
        assert expected in text, (expected, text.splitlines())
    german_subject, german = mails[TEAM_LEAD]
    assert german_subject.startswith(f"[{ticket.number}] SLA-Warnung: 75 % der Reaktionszeit verbraucht")
    for expected in (
        "Status: Neu, Gruppe: 1st-Level-Support",
        "Fällig: 02.03.2026, 10:30",
        "(Mo. 08:00–17:00; Di. 08:00–17:00; Mi. 08:00–17:00; Do. 08:00–17:00; Fr. 08:00–17:00, ohne die "
        "Feiertage (Nordrhein-Westfalen))",
    ):
        assert expected in german, (expected, german)
    assert "Mon 08:00" not in german and "Mo. 08:00" not in text
    # in words in either language: no status code, slug, actor code or ISO instant
    for each in (subject, text, german_subject, german):
        assert not RAW.search(each) and "status: new" not in each, each

    # resolved: the all-clear to the same two, each in its language (the reason and who took it back too)
    world.at(berlin(2026, 3, 2, 10, 45))
    await world.move(ticket.id, "resolved", "Drucker getauscht")
    cleared = _mails(await world.outbox(), "de-escalation:")
    assert set(cleared) == {TEAM_LEAD, PARTNER}
    subject, text = cleared[PARTNER]
    assert subject == f"[{ticket.number}] SLA warning (response time) taken back"
    for expected in (
        "Status: Resolved",
        "Taken back by: Interface (test), 2 Mar 2026, 10:45",
        "Reason: ticket resolved",
    ):
        assert expected in text, (expected, text.splitlines())
    german_subject, german = cleared[TEAM_LEAD]
    assert german_subject == f"[{ticket.number}] SLA-Warnung (Reaktionszeit) zurückgenommen"
    for expected in ("Status: Gelöst", "Zurückgenommen von: Schnittstelle (test), 02.03.2026, 10:45",
                     "Grund: Ticket gelöst"):  # fmt: skip
        assert expected in german, (expected, german)
    for each in (subject, text, german_subject, german):
        assert not RAW.search(each) and "api:test" not in each, each


async def test_webhooks_keep_their_json_whatever_the_language(world: World) -> None:
    data = sla_data()
    data["contacts"] = [
        {"name": "Partner Service Desk", "level": 1, "mail": [PARTNER], "locale": "en",
         "webhook": {"url": "https://hooks.partner.example.com/uhd", "secret": new_secret()}},
    ]  # fmt: skip
    await import_sla(world.db, TENANT, data, now=berlin(2026, 2, 1, 9, 0))
    await world.ticket()
    assert await world.scan(berlin(2026, 3, 2, 10, 30)) == 1
    (hook,) = [r for r in await world.outbox() if r["channel"] == "webhook"]
    escalation = hook["body"]["data"]["escalation"]
    # codes and ISO instants for programs, as before: no words in any language
    assert (escalation["kind"], escalation["target"]) == ("warning", "response")
    assert escalation["due_at"] == "2026-03-02T09:30:00.000Z"
    assert escalation["calendar"].startswith("mon 08:00-17:00")
    assert hook["body"]["data"]["ticket"]["status"] == "new"
