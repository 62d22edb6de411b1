"""Real SMTP and LMTP sessions against the mail-in endpoint (smtplib, in a thread: it blocks), and mails to send.

LMTP answers DATA once per accepted recipient (RFC 2033); smtplib's LMTP reads only the first of those replies, so
``deliver`` reads the others itself, as a mail server does.
"""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

HOST = "127.0.0.1"
NORD = "helpdesk@klinikum-nord.example"
SUED = "helpdesk@klinikum-sued.example"
# users of examples/users.example.csv (tenant A's and B's directories alike)
MUELLER = "juergen.mueller@klinikum-nord.example"
WEISS = "sabine.weiss@klinikum-nord.example"


@dataclass(frozen=True)
class Answer:
    """What the endpoint said to one recipient: at RCPT (refused) or after DATA."""

    code: int
    text: str


def _session(port: int, lmtp: bool) -> smtplib.SMTP:
    client: smtplib.SMTP = smtplib.LMTP(HOST, port, timeout=30) if lmtp else smtplib.SMTP(HOST, port, timeout=30)
    client.ehlo("mx.klinikum.example")  # LMTP: LHLO
    return client


def _deliver(
    port: int, data: bytes, mail_from: str, rcpts: list[str], lmtp: bool, options: tuple[str, ...]
) -> dict[str, Answer]:
    answers: dict[str, Answer] = {}
    with _session(port, lmtp) as client:
        code, text = client.mail(mail_from, list(options))
        if code != 250:
            return {r: Answer(code, text.decode()) for r in rcpts}
        accepted = []
        for rcpt in rcpts:
            code, text = client.rcpt(rcpt)
            if code == 250:
                accepted.append(rcpt)
            else:
                answers[rcpt] = Answer(code, text.decode())
        if not accepted:
            return answers
        try:
            code, text = client.data(data)
        except smtplib.SMTPDataError as exc:
            code, text = exc.smtp_code, exc.smtp_error
        answers[accepted[0]] = Answer(code, text.decode())
        for rcpt in accepted[1:] if lmtp else []:
            code, text = client.getreply()
            answers[rcpt] = Answer(code, text.decode())
        for rcpt in accepted[1:] if not lmtp else []:
            answers[rcpt] = answers[accepted[0]]
    return answers


async def deliver(
    port: int,
    message: EmailMessage | bytes,
    *,
    rcpts: list[str] | None = None,
    mail_from: str | None = None,
    lmtp: bool = True,
    options: tuple[str, ...] = (),
) -> dict[str, Answer]:
    """One mail over a real session; the answer per recipient."""
    data = message if isinstance(message, bytes) else message.as_bytes()
    if mail_from is None:
        mail_from = MUELLER if isinstance(message, bytes) else str(message["From"].addresses[0].addr_spec)
    return await asyncio.to_thread(_deliver, port, data, mail_from, rcpts or [NORD], lmtp, options)


async def one(port: int, message: EmailMessage | bytes, **kwargs: object) -> Answer:
    """The single recipient's answer."""
    answers = await deliver(port, message, **kwargs)  # type: ignore[arg-type]
    assert len(answers) == 1, answers
    return next(iter(answers.values()))


def mail(
    *,
    sender: str = f"Dr. Jürgen Müller <{MUELLER}>",
    to: str = NORD,
    subject: str = "Drucker auf Station 3B druckt nicht",
    text: str = "Guten Morgen,\n\nder Drucker im Stationszimmer druckt seit heute früh nicht mehr.\n\nGruß\nJ. Müller",
    html: str | None = None,
    **headers: str,
) -> EmailMessage:
    """A mail as a mail program writes it (its own Message-ID); ``headers``: more, ``In_Reply_To`` style names."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="klinikum-nord.example")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg
