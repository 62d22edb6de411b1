"""Mail out through SMTP (aiosmtplib): one message per outbox row, its Message-ID derived from the row's dedupe key.

Sending is at-least-once (a crash after the server accepted the message and before the row is marked sent
means it goes out again); both copies then carry the same Message-ID, which mail clients and archives use to
recognise the second as a duplicate.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import aiosmtplib

from uhd_telephony.errors import ConfigError
from uhd_telephony.outbox.transport import SendError
from uhd_telephony.settings import Settings

log = logging.getLogger(__name__)

# deliberately plain: one address as a directory or a group file writes it, no display names, no comments
_ADDRESS_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
MAX_RECIPIENTS = 20


def valid_address(value: object) -> bool:
    """A bare address ``name@host`` that can go into a header: no blanks, no line breaks, no display name."""
    return isinstance(value, str) and len(value) <= 254 and _ADDRESS_RE.match(value) is not None


def split_addresses(target: str) -> list[str]:
    """The addresses of a comma-separated ``target`` (an outbox row's or a group's ``mail``)."""
    return [part.strip() for part in target.split(",") if part.strip()]


def message_id(dedupe_key: str, sender: str) -> str:
    """A stable Message-ID for one outbox row: the same on every attempt, unique per dedupe key."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "uhd-telephony.invalid"
    return f"<uhd.{hashlib.sha256(dedupe_key.encode()).hexdigest()[:40]}@{domain}>"


def build_message(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    msg_id: str,
) -> EmailMessage:
    """The MIME message: UTF-8 text (and HTML when given), marked as sent by a machine."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Message-ID"] = msg_id
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    # RFC 3834: no out-of-office replies to a notification, please
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


class Mailer:
    """Sends one message per call over a fresh SMTP connection, bounded by ``smtp_timeout_s``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sender = settings.mail_from
        # fail at start-up, not at the first notification
        if not valid_address(parseaddr(settings.mail_from)[1]):
            raise ConfigError(f"UHD_MAIL_FROM is not a mail address: {settings.mail_from!r}")

    async def send(self, *, to: Sequence[str], subject: str, text: str, html: str | None, dedupe_key: str) -> None:
        """Hand the message to the SMTP server; SendError (permanent for 5xx replies) when it does not take it."""
        recipients = [a for a in to if valid_address(a)]
        if not recipients or len(recipients) != len(to) or len(recipients) > MAX_RECIPIENTS:
            raise SendError(f"no usable recipient list: {', '.join(to)!r}", permanent=True)
        msg = build_message(
            sender=self.sender,
            to=recipients,
            subject=subject,
            text=text,
            html=html,
            msg_id=message_id(dedupe_key, self.sender),
        )
        s = self.settings
        try:
            await aiosmtplib.send(
                msg,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password is not None else None,
                use_tls=s.smtp_tls,
                start_tls=s.smtp_starttls,
                timeout=s.smtp_timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [err.code for err in exc.recipients]
            raise SendError(f"recipients refused: {exc}", permanent=all(500 <= c < 600 for c in codes)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx: the server will never take it (bad sender, policy); 4xx: try again later
            raise SendError(f"SMTP {exc.code}: {exc.message}", permanent=500 <= exc.code < 600) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SendError(f"SMTP server {s.smtp_host}:{s.smtp_port} unreachable: {exc!r}") from exc
