"""Mail to a helpdesk address over real LMTP and SMTP sessions: new tickets, replies, redeliveries, recipients."""

from __future__ import annotations

import asyncio

from tests.mailin.conftest import SENT_FROM, Desk
from tests.mailin.sessions import MUELLER, NORD, SUED, WEISS, deliver, mail, one
from tests.support.webapp import TENANT_A, TENANT_B
from uhd_telephony.outbox.mail import message_id
from uhd_telephony.tickets.history import entries
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.tickets.workflow import TicketWorkflow


async def _ticket(desk: Desk, number: str, tenant: str = TENANT_A) -> tuple[object, list[dict[str, object]]]:
    view = await desk.tickets.by_number(tenant, number)
    async with desk.db.engine.connect() as conn:
        return view, await entries(conn, view.id)


def _number(text: str) -> str:
    return next(word for word in text.split() if word.startswith("UHD-")).rstrip(",")


async def test_a_mail_from_a_directory_user_opens_a_mail_ticket_for_them(desk: Desk) -> None:
    message = mail(subject="Drucker 3B stört – bitte schnell")
    assert b"=?utf-8?" in message.as_bytes()  # on the wire as RFC 2047 encoded words
    answer = await one(desk.port, message)
    assert answer.code == 250 and "opened" in answer.text, answer
    view, history = await _ticket(desk, _number(answer.text))
    assert view.channel == "mail" and view.status == "new" and view.tenant == TENANT_A
    assert view.requester_user_id is not None and view.requester_name == "Dr. Jürgen Müller"
    assert view.requester_email == MUELLER and view.vip  # the directory's VIP flag (users.example.csv)
    assert view.requester_number  # the directory's first phone
    assert view.subject == "Drucker 3B stört – bitte schnell"
    assert view.description.startswith("Guten Morgen,\n\nder Drucker") and view.first_response_at is None
    assert history[0]["action"] == "created" and history[0]["actor"] == f"mail:{MUELLER}"
    # the requester's confirmation with the status link is in the outbox, to the sender
    rows = await desk.sql("SELECT target, subject FROM outbox WHERE ticket_id = :t", t=view.id)
    assert [r.target for r in rows] == [MUELLER] and view.number in rows[0].subject


async def test_the_directory_match_ignores_case_and_unknown_senders_keep_name_and_address(desk: Desk) -> None:
    shouting = await one(desk.port, mail(sender=f"SABINE WEISS <{WEISS.upper()}>"))
    view, _ = await _ticket(desk, _number(shouting.text))
    assert view.requester_user_id is not None and view.requester_name == "Sabine Weiß"
    stranger = await one(desk.port, mail(sender="=?utf-8?q?Fr=C3=A4nzi_Gast?= <franzi@gast.example>"))
    view, _ = await _ticket(desk, _number(stranger.text))
    assert view.requester_user_id is None and view.requester_name == "Fränzi Gast"
    assert view.requester_email == "franzi@gast.example" and not view.vip
    nameless = await one(desk.port, mail(sender="nobody-known@gast.example"))
    view, _ = await _ticket(desk, _number(nameless.text))
    assert view.requester_name == "nobody-known@gast.example"  # the pages show someone, never an empty name


async def test_a_redelivered_mail_makes_nothing_new(desk: Desk) -> None:
    message = mail()
    first = await one(desk.port, message)
    before = await desk.rows()
    again = await one(desk.port, message)  # the mail server did not see our 250 and delivers again
    assert again.code == 250 and "already received" in again.text and _number(first.text) in again.text
    assert await desk.rows() == before
    # two deliveries of one mail at the same moment (two web processes): one ticket, both answered 250
    twin = mail()
    answers = await asyncio.gather(one(desk.port, twin), one(desk.port, twin), one(desk.port, twin))
    assert all(a.code == 250 for a in answers), answers
    assert len({_number(a.text) for a in answers}) == 1
    assert (await desk.rows())["tickets"] == before["tickets"] + 1


async def test_a_mail_without_message_id_is_recognised_by_its_bytes(desk: Desk) -> None:
    message = mail()
    del message["Message-ID"]
    raw = message.as_bytes()
    first, second = await one(desk.port, raw), await one(desk.port, raw)
    assert "opened" in first.text and "already received" in second.text


async def test_a_reply_with_the_number_comments_and_reopens_a_resolved_ticket(desk: Desk) -> None:
    opened = await one(desk.port, mail())
    number = _number(opened.text)
    view, _ = await _ticket(desk, number)
    flow = TicketWorkflow(desk.tickets)
    await flow.transition(TENANT_A, view.id, "in_progress", note=None, actor="system")
    await flow.transition(TENANT_A, view.id, "resolved", note="Toner getauscht", actor="system")
    reply = mail(
        subject=f"AW: [{number}] Ihre Anfrage wurde erfasst",
        text="Leider druckt er immer noch nicht.\n\nAm 02.03.2026 um 09:00 schrieb IT-Helpdesk:\n> Ihre Anfrage "
        "wurde erfasst\n> https://helpdesk.example/status/abcdefghijklmnopqrstuvwxyz123456",
    )
    answer = await one(desk.port, reply)
    assert answer.code == 250 and f"added to ticket {number}, reopened" in answer.text
    view, history = await _ticket(desk, number)
    assert view.status == "reopened" and view.resolved_at is None
    status, comment = history[-2], history[-1]
    assert (status["action"], status["old_value"], status["new_value"]) == ("status", "resolved", "reopened")
    assert status["note"] == "Leider druckt er immer noch nicht."  # the reason: the reply's first line
    assert (comment["action"], comment["field"]) == ("comment", "public")
    assert comment["note"] == "Leider druckt er immer noch nicht."  # the quoted thread (and its status link) cut
    assert comment["actor"] == f"mail:{MUELLER}"
    # a reply to an open ticket comments without a status change
    answer = await one(desk.port, mail(subject=f"Re: {number.lower()}", text="Noch ein Detail: Fehler 0x42."))
    assert answer.text.endswith(f"added to ticket {number}")
    view, history = await _ticket(desk, number)
    assert view.status == "reopened" and history[-1]["note"] == "Noch ein Detail: Fehler 0x42."


async def test_a_reply_found_by_its_references(desk: Desk) -> None:
    first = mail()
    opened = await one(desk.port, first)
    number = _number(opened.text)
    # the requester answers their own mail (a later thought): In-Reply-To names it
    later = mail(subject="Nachtrag", text="Es ist der Drucker HP-3B-01.", In_Reply_To=str(first["Message-ID"]))
    assert (await one(desk.port, later)).text.endswith(f"added to ticket {number}")
    # ... or the helpdesk's confirmation, whose subject they changed: References names its Message-ID
    view, _ = await _ticket(desk, number)
    sent = message_id(f"caller:{view.id}:created", SENT_FROM)
    changed = mail(subject="Drucker geht wieder", text="Hat sich erledigt.", References=f"<other@x> {sent}")
    assert (await one(desk.port, changed)).text.endswith(f"added to ticket {number}")
    # a stranger naming the same sent Message-ID is no requester of it: a new ticket
    stranger = mail(sender="eve@evil.example", subject="Drucker", References=sent)
    assert "opened" in (await one(desk.port, stranger)).text


async def test_a_stranger_replying_with_the_number_writes_an_internal_note_that_reopens_nothing(desk: Desk) -> None:
    number = _number((await one(desk.port, mail())).text)
    view, _ = await _ticket(desk, number)
    flow = TicketWorkflow(desk.tickets)
    await flow.transition(TENANT_A, view.id, "resolved", note="erledigt", actor="system")
    answer = await one(desk.port, mail(sender="Eve <eve@evil.example>", subject=f"Re: {number}", text="Klick hier"))
    assert answer.text.endswith(f"added to ticket {number}")
    view, history = await _ticket(desk, number)
    assert view.status == "resolved"
    assert (history[-1]["action"], history[-1]["field"], history[-1]["actor"]) == (
        "comment", "internal", "mail:eve@evil.example",
    )  # fmt: skip
    # a colleague in the tenant's directory writes a public comment
    await one(desk.port, mail(sender=WEISS, subject=f"Re: {number}", text="Bei uns auch."))
    _, history = await _ticket(desk, number)
    assert history[-1]["field"] == "public"


async def test_a_reply_to_a_closed_ticket_opens_a_new_one_that_names_it(desk: Desk) -> None:
    number = _number((await one(desk.port, mail(subject="Monitor flackert"))).text)
    view, _ = await _ticket(desk, number)
    flow = TicketWorkflow(desk.tickets)
    await flow.transition(TENANT_A, view.id, "resolved", note="Kabel getauscht", actor="system")
    await flow.transition(TENANT_A, view.id, "closed", note=None, actor="system")
    answer = await one(desk.port, mail(subject=f"AW: [{number}] Ihre Anfrage wurde abgeschlossen", text="Wieder da."))
    assert "opened" in answer.text
    follow_up, history = await _ticket(desk, _number(answer.text))
    assert follow_up.number != number and follow_up.subject == "Monitor flackert"
    assert follow_up.description == "Wieder da."
    assert [(h["action"], h["field"], h["old_value"]) for h in history if h["action"] == "mail"] == [
        ("mail", "follows_up", number)
    ]
    closed, _ = await _ticket(desk, number)
    assert closed.status == "closed"  # untouched


async def test_a_reply_naming_another_tenants_ticket_never_touches_it(desk: Desk) -> None:
    theirs = await desk.tickets.create(
        TENANT_B, channel="web", subject="KIS hängt", requester=Requester(name="Zacharias Südlich"), actor="system"
    )
    before = await _ticket(desk, theirs.number, TENANT_B)
    answer = await one(desk.port, mail(subject=f"Re: [{theirs.number}] KIS", text="Geht wieder?"))
    assert "opened" in answer.text  # a new ticket of tenant A
    mine, _ = await _ticket(desk, _number(answer.text))
    assert mine.tenant == TENANT_A and mine.number != theirs.number
    assert await _ticket(desk, theirs.number, TENANT_B) == before


async def test_unknown_recipients_are_refused_at_rcpt_and_lmtp_answers_each_recipient(desk: Desk) -> None:
    answers = await deliver(desk.port, mail(), rcpts=[NORD, "nobody@klinikum-nord.example", SUED, NORD.upper()])
    assert answers["nobody@klinikum-nord.example"].code == 550
    assert answers["nobody@klinikum-nord.example"].text.startswith("5.1.1")
    assert "opened" in answers[NORD].text and "opened" in answers[SUED].text
    assert _number(answers[NORD].text) != _number(answers[SUED].text)  # one ticket in each tenant
    assert answers[NORD.upper()] == answers[NORD]  # the same tenant twice: one ticket, the same answer
    assert len(await desk.sql("SELECT id FROM tickets WHERE tenant = :t", t=TENANT_A)) == 1
    assert (await desk.tickets.by_number(TENANT_B, _number(answers[SUED].text))).tenant == TENANT_B
    only_unknown = await deliver(desk.port, mail(), rcpts=["postmaster@klinikum-nord.example"])
    assert only_unknown["postmaster@klinikum-nord.example"].code == 550


async def test_smtp_takes_the_same_mails_with_one_answer(smtp_desk: Desk) -> None:
    answers = await deliver(smtp_desk.port, mail(), rcpts=[NORD, SUED], lmtp=False)
    assert {a.code for a in answers.values()} == {250}
    tickets = await smtp_desk.sql("SELECT tenant, channel FROM tickets ORDER BY tenant")
    assert [tuple(r) for r in tickets] == [(TENANT_A, "mail"), (TENANT_B, "mail")]
    refused = await deliver(smtp_desk.port, mail(), rcpts=["x@klinikum-nord.example"], lmtp=False)
    assert refused["x@klinikum-nord.example"].code == 550
    assert MUELLER  # the sender of mail() is a directory user of both tenants
