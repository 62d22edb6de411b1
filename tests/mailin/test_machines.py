"""Mail no person sent makes no ticket (accepted and dropped, logged, counted); a mail without a sender, or from a
client that may not deliver, is refused with a clear SMTP text — and nothing of either is written."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from ipaddress import ip_network

import pytest

from tests.mailin.conftest import SENT_FROM, Desk, open_desk
from tests.mailin.sessions import NORD, SUED, deliver, mail, one
from tests.support.webapp import Seeded
from uhd_telephony.mailin.server import MailHandler

EMPTY = {"tickets": 0, "history": 0, "mails": 0, "attachments": 0}


def _bounce() -> EmailMessage:
    """A delivery status notification as Postfix writes it (RFC 3464): multipart/report."""
    report = EmailMessage()
    report["From"] = "MAILER-DAEMON@mx.klinikum-nord.example (Mail Delivery System)"
    report["To"] = NORD
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.set_content("This is the mail system at host mx.\n\nI'm sorry to have to inform you ...")
    report.add_attachment(
        "Reporting-MTA: dns; mx.klinikum-nord.example\n\nFinal-Recipient: rfc822; x@y\nAction: failed\n",
        subtype="delivery-status",
    )
    report.set_type("multipart/report")  # add_attachment made it multipart/mixed: its boundary stays
    report.set_param("report-type", "delivery-status")
    return report


AUTO_REPLIES = [
    ({"Auto_Submitted": "auto-replied"}, "auto-submitted"),
    ({"Auto_Submitted": "auto-generated; owner-email=x@y"}, "auto-submitted"),
    ({"Precedence": "bulk"}, "precedence"),
    ({"Precedence": "Junk"}, "precedence"),
    ({"Precedence": "list"}, "precedence"),
    ({"Precedence": "auto_reply"}, "precedence"),
    ({"X_Autoreply": "yes"}, "autoreply-header"),
    ({"X_Autorespond": "Abwesenheitsnotiz"}, "autoreply-header"),
]


async def test_auto_replies_are_accepted_and_dropped(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    for headers, reason in AUTO_REPLIES:
        out_of_office = mail(subject="Abwesenheitsnotiz: Drucker", text="Ich bin bis Montag nicht im Haus.", **headers)
        with caplog.at_level(logging.INFO, logger="uhd_telephony.mailin"):
            answer = await one(desk.port, out_of_office)
        assert answer.code == 250 and f"automatic mail ({reason}) dropped" in answer.text, headers
        assert any("dropped" in r.getMessage() and reason in r.getMessage() for r in caplog.records)
    assert await desk.rows() == EMPTY
    assert dict(desk.counts) == {"received": 8, "dropped_auto-submitted": 2, "dropped_precedence": 4,
                                 "dropped_autoreply-header": 2}  # fmt: skip


async def test_a_person_saying_auto_submitted_no_is_a_person(desk: Desk) -> None:
    answer = await one(desk.port, mail(Auto_Submitted="no", Precedence="normal", X_Autoreply="no"))
    assert "opened" in answer.text


async def test_bounces_and_the_null_sender_are_dropped(desk: Desk) -> None:
    bounce = await one(desk.port, _bounce(), mail_from="")
    assert bounce.code == 250 and "null-sender" in bounce.text
    report = await one(desk.port, _bounce(), mail_from="postmaster@mx.klinikum-nord.example")
    assert report.code == 250 and "(report)" in report.text
    null = await one(desk.port, mail(), mail_from="<>")  # a person's mail with a null sender: still a machine's
    assert null.code == 250 and "null-sender" in null.text
    assert await desk.rows() == EMPTY


async def test_mail_from_the_helpdesk_itself_is_a_loop(desk: Desk) -> None:
    for sender in (SENT_FROM, f"Helpdesk Süd <{SUED}>"):
        answer = await one(desk.port, mail(sender=sender), mail_from="bounce@uhd.example")
        assert answer.code == 250 and "(loop)" in answer.text
    assert await desk.rows() == EMPTY


async def test_a_mail_without_a_recognisable_sender_is_refused_and_writes_nothing(desk: Desk) -> None:
    senders = [None, "", "Jürgen Müller", "<>", "undisclosed-recipients:;", "müller@klinikum.example", "a@b@c", "<x@>"]
    for sender in senders:
        message = mail()
        del message["From"]
        if sender is not None:
            message["From"] = sender
        answer = await one(desk.port, message.as_bytes(), mail_from="relay@klinikum-nord.example")
        assert answer.code == 550 and answer.text.startswith("5.7.1 no recognisable sender"), sender
    assert await desk.rows() == EMPTY
    assert desk.counts["rejected_no_sender"] == len(senders)


async def test_the_sender_header_stands_in_for_an_unusable_from(desk: Desk) -> None:
    message = mail(sender="Station 3B", Sender="Sabine Weiß <sabine.weiss@klinikum-nord.example>")
    answer = await one(desk.port, message)
    assert "opened" in answer.text


async def test_only_the_mail_servers_may_deliver(world: Seeded) -> None:
    async with open_desk(world.url) as desk:
        handler: MailHandler = desk.listener.handler
        handler.clients = ()  # nobody: loopback is refused like any other client now
        answers = await deliver(desk.port, mail(), rcpts=[NORD])
        assert answers[NORD].code == 554 and answers[NORD].text.startswith("5.7.1")
        assert await desk.rows() == EMPTY and desk.counts["refused_client"] == 1
        assert handler.allowed(("::ffff:127.0.0.1", 25)) is False
        handler.clients = (ip_network("127.0.0.0/8"),)
        assert handler.allowed(("::ffff:127.0.0.1", 25, 0, 0)) and not handler.allowed(("10.0.0.1", 25))
        assert not handler.allowed("not an address")
        assert handler.allowed(("127.0.0.1", 25)) and (await one(desk.port, mail())).code == 250
