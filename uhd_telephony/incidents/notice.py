"""Telling a caller that a major incident is over, in the caller's transaction: a mail through the outbox, or — for
someone without a mail address — an entry on the callback list that says why.

A linked ticket's requester gets the mail with the ticket's status link (a fresh one: ``tickets.notify``); a
subscriber (who pressed the key during the announcement, no ticket) gets one without. The mail is German, then
English, like every caller mail (a caller has no account, so no language of their own). Both the outbox row and
the callback entry carry a key of the incident and the person (``incident:<id>:ticket:<id>``,
``incident:<id>:subscription:<id>``): queued twice, they are there once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.callbacks.service import request_callback
from uhd_telephony.directory.models import USERS
from uhd_telephony.i18n import N_, gettext, label, translator
from uhd_telephony.incidents.models import NotifiedVia
from uhd_telephony.outbox.mail import valid_address
from uhd_telephony.outbox.service import REDACT, enqueue
from uhd_telephony.tickets.notify import new_status_link, recipient

MAIL, CALLBACK = NotifiedVia.MAIL.value, NotifiedVia.CALLBACK.value
SUBJECT = N_("Disruption resolved: %(title)s")
CALLBACK_NOTE = N_("Major incident “%(title)s” resolved: tell the caller (no mail address)")


def ticket_key(incident_id: int, ticket_id: int) -> str:
    return f"incident:{incident_id}:ticket:{ticket_id}"


def subscription_key(incident_id: int, subscription_id: int) -> str:
    return f"incident:{incident_id}:subscription:{subscription_id}"


def _part(locale: str, incident: Mapping[Any, Any], name: str, ticket: Mapping[Any, Any] | None, link: str) -> str:
    """The mail's text in one language."""
    t = translator(locale)
    lines = [t.gettext("Hello %(name)s,", name=name) if name else t.gettext("Hello,"), ""]
    if ticket is not None:
        lines.append(
            t.gettext(
                "The disruption “%(title)s” that your request %(number)s belongs to has been resolved.",
                title=incident["title"],
                number=ticket["number"],
            )
        )
    else:
        lines.append(t.gettext("The disruption “%(title)s” you asked to be told about has been resolved.",
                               title=incident["title"]))  # fmt: skip
    if incident.get("resolution"):
        lines.append(t.gettext("What was done: %(text)s", text=incident["resolution"]))
    if ticket is not None:
        lines.append(t.gettext("Status: %(status)s", status=label("public_status", ticket["status"], locale)))
        lines += ["", t.gettext("You can see its history without logging in here:"), link, ""]
        lines.append(t.gettext("If the problem persists, please call us and quote the ticket number."))
    else:
        lines += ["", t.gettext("If the problem persists, please call us again.")]
    return "\n".join(lines)


def mail_texts(
    incident: Mapping[Any, Any], name: str, ticket: Mapping[Any, Any] | None = None, link: str = ""
) -> tuple[str, str]:
    """(subject, text) of the notice: German, then English."""
    title = " ".join(str(incident["title"]).split())
    subject = f"{gettext('de', SUBJECT, title=title)} / {gettext('en', SUBJECT, title=title)}"
    if ticket is not None:
        subject = f"[{ticket['number']}] {subject}"
    text = (
        f"{_part('de', incident, name, ticket, link)}\n\n"
        "--- English ---\n\n"
        f"{_part('en', incident, name, ticket, link)}\n\n"
        f"{gettext('de', 'Your IT user helpdesk')} / {gettext('en', 'Your IT user helpdesk')}\n"
        f"{gettext('de', 'This message was generated automatically.')} / "
        f"{gettext('en', 'This message was generated automatically.')}\n"
    )
    return subject, text


def callback_note(incident: Mapping[Any, Any]) -> str:
    """Why the caller is on the callback list, in German and English (the list's ``note``)."""
    title = incident["title"]
    return f"{gettext('de', CALLBACK_NOTE, title=title)} / {gettext('en', CALLBACK_NOTE, title=title)}"


async def tell_requester(
    conn: AsyncConnection, incident: Mapping[Any, Any], ticket: Mapping[Any, Any], now: datetime
) -> str | None:
    """Tell a linked ticket's requester: a mail with the status link, else a callback entry; how (None: no mail
    address and no number to call)."""
    key = ticket_key(int(incident["id"]), int(ticket["id"]))
    address, name = await recipient(conn, ticket)
    if address and valid_address(address):
        link, token = await new_status_link(conn, int(ticket["id"]))
        subject, text = mail_texts(incident, name or ticket["requester_name"] or "", ticket, link)
        await enqueue(
            conn, tenant=ticket["tenant"], channel="mail", target=address, subject=subject,
            body={"text": text, REDACT: [token]}, dedupe_key=key, ticket_id=int(ticket["id"]),
        )  # fmt: skip
        return MAIL
    called = await request_callback(
        conn, key=key, tenant=ticket["tenant"], number=ticket["requester_number"] or "",
        name=ticket["requester_name"] or "", user_id=ticket["requester_user_id"], linkedid=ticket["call_linkedid"],
        at=now, note=callback_note(incident),
    )  # fmt: skip
    return CALLBACK if called else None


async def _directory_address(conn: AsyncConnection, tenant: str, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    stmt = select(USERS.c.email).where(USERS.c.tenant == tenant, USERS.c.id == user_id)
    found = (await conn.execute(stmt)).scalar_one_or_none()
    return found.strip() if isinstance(found, str) and found.strip() else None


async def tell_subscriber(
    conn: AsyncConnection, incident: Mapping[Any, Any], subscriber: Mapping[Any, Any], now: datetime
) -> str | None:
    """Tell a subscriber: a mail (the address they had when they subscribed, else the directory's now), else a
    callback entry; how (None: neither)."""
    key = subscription_key(int(incident["id"]), int(subscriber["id"]))
    tenant = subscriber["tenant"]
    address = (subscriber["email"] or "").strip() or await _directory_address(conn, tenant, subscriber["user_id"])
    if address and valid_address(address):
        subject, text = mail_texts(incident, subscriber["name"] or "")
        await enqueue(conn, tenant=tenant, channel="mail", target=address, subject=subject, body={"text": text},
                      dedupe_key=key)  # fmt: skip
        return MAIL
    called = await request_callback(
        conn, key=key, tenant=tenant, number=subscriber["number"], name=subscriber["name"] or "",
        user_id=subscriber["user_id"], linkedid=subscriber["linkedid"], at=now, note=callback_note(incident),
    )  # fmt: skip
    return CALLBACK if called else None
