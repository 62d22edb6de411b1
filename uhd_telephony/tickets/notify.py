"""Mail to the caller when their ticket is created and when it is closed, with a status link that needs no login.

The address is the one given with the ticket (a web form's, a mail's sender) or else the requester's in the
tenant's directory. The link is ``{UHD_PUBLIC_URL}/status/<token>`` with a fresh ``secrets.token_urlsafe(32)``
per mail. Only its sha256 is stored (``tickets.status_token_hash``), so the database alone opens no status page;
the raw token is in the mail (and in the outbox row until it is sent, then blanked out). Each mail's link
replaces the one before: the closure mail's link is the one that works from then on.

Everything happens in the caller's transaction: the token's hash and the mail commit with the ticket change.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.directory.models import USERS
from uhd_telephony.i18n import N_, format_datetime, gettext, label, translator
from uhd_telephony.outbox.mail import valid_address
from uhd_telephony.outbox.models import outbox
from uhd_telephony.outbox.service import PUBLIC_URL, REDACT, enqueue
from uhd_telephony.tickets.history import Action, history
from uhd_telephony.tickets.models import TicketStatus
from uhd_telephony.tickets.view import TicketView, tickets

log = logging.getLogger(__name__)

Event = Literal["created", "closed"]
TOKEN_BYTES = 32
# What a capability above tickets adds to the closure mail, in one language: ``(locale, status link) -> lines``
# (feedback: the rating links under the status link). A port filled from above, as ``tickets.extras``: tickets
# import nothing of it; what is not registered adds nothing.
ClosureLines = Callable[[str, str], Sequence[str]]
_closure_lines: list[ClosureLines] = []


def add_closure_lines(provider: ClosureLines) -> ClosureLines:
    """Have every closure mail carry ``provider(locale, link)``'s lines after the status link (once per provider)."""
    if provider not in _closure_lines:
        _closure_lines.append(provider)
    return provider


def token_hash(token: str) -> str:
    """What is stored of a status token: its sha256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def status_path(token: str) -> str:
    return f"/status/{token}"


def _get(ticket: TicketView | Mapping[str, Any], name: str) -> Any:
    if isinstance(ticket, Mapping):
        return ticket.get(name)
    return getattr(ticket, name, None)


def _part(locale: str, event: Event, ticket: Mapping[str, Any], name: str, link: str) -> str:
    """The mail's text in one language: greeting, what happened, the status link, the ticket's state."""
    t = translator(locale)
    number, subject = str(ticket["number"]), str(ticket.get("subject") or "")
    lines = [t.gettext("Hello %(name)s,", name=name) if name else t.gettext("Hello,"), ""]
    if event == "created":
        lines.append(t.gettext("Your request to the IT helpdesk has been recorded as %(number)s.", number=number))
    else:
        lines.append(t.gettext("Your request %(number)s has been closed.", number=number))
    if subject:
        lines.append(t.gettext("Subject: %(subject)s", subject=subject))
    lines.append(t.gettext("Status: %(status)s", status=label("public_status", ticket.get("status"), locale)))
    lines.append(t.gettext("Recorded: %(when)s", when=format_datetime(ticket.get("created_at"), locale)))
    if event == "created":
        lines += [t.gettext("You can follow its status at any time, without logging in, here:"), link, ""]
        lines.append(t.gettext("Please quote the ticket number in any reply."))
    else:
        lines += [t.gettext("You can see its history without logging in here:"), link, ""]
        for provider in _closure_lines:
            lines += [*provider(locale, link), ""]
        lines.append(t.gettext("If the problem persists, please call us and quote the ticket number."))
    return "\n".join(lines)


def _texts(event: Event, ticket: Mapping[str, Any], name: str, link: str) -> tuple[str, str]:
    """(subject, text) of the caller's mail: German, then English (a caller has no account, so no language of its
    own); times in German local time."""
    number = str(ticket["number"])
    title = N_("Your request has been received") if event == "created" else N_("Your request has been closed")
    subject = f"[{number}] {gettext('de', title)} / {gettext('en', title)}"
    text = (
        f"{_part('de', event, ticket, name, link)}\n\n"
        "--- English ---\n\n"
        f"{_part('en', event, ticket, name, link)}\n\n"
        f"{gettext('de', 'Your IT user helpdesk')} / {gettext('en', 'Your IT user helpdesk')}\n"
        f"{gettext('de', 'Times in German local time (Europe/Berlin).')} / "
        f"{gettext('en', 'Times in German local time (Europe/Berlin).')}\n"
        f"{gettext('de', 'This message was generated automatically.')} / "
        f"{gettext('en', 'This message was generated automatically.')}\n"
    )
    return subject, text


async def _closure_key(conn: AsyncConnection, ticket_id: int) -> str:
    # one mail per closure: a ticket closed, reopened and closed again gets a second one
    closed_at = (await conn.execute(select(tickets.c.closed_at).where(tickets.c.id == ticket_id))).scalar()
    if isinstance(closed_at, datetime):
        return f"caller:{ticket_id}:closed:{closed_at.timestamp():.6f}"
    closures = (
        await conn.execute(
            select(func.count()).where(
                history.c.ticket_id == ticket_id,
                history.c.action == Action.STATUS.value,
                history.c.new_value == TicketStatus.CLOSED.value,
            )
        )
    ).scalar_one()
    return f"caller:{ticket_id}:closed:n{closures}"


async def recipient(conn: AsyncConnection, ticket: Mapping[str, Any]) -> tuple[str | None, str]:
    """The caller's address and name: the one given with the ticket, else the directory user's (also the major
    incidents' notice, incidents.notice)."""
    given = (ticket.get("requester_email") or "").strip()
    if given:
        return given, ticket["requester_name"] or ""
    if ticket["requester_user_id"] is None:
        return None, ""
    stmt = select(USERS.c.email, USERS.c.name).where(
        USERS.c.tenant == ticket["tenant"], USERS.c.id == ticket["requester_user_id"]
    )
    user = (await conn.execute(stmt)).mappings().first()
    if user is None or not (user["email"] or "").strip():
        return None, ""
    return user["email"].strip(), user["name"] or ticket["requester_name"] or ""


async def new_status_link(conn: AsyncConnection, ticket_id: int) -> tuple[str, str]:
    """A fresh status link for the ticket's caller, in ``conn``'s transaction: (the link as a mail text writes it,
    its token for the mail body's ``redact``). It replaces the link before: only the newest mail's link works."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    await conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(status_token_hash=token_hash(token)))
    return PUBLIC_URL + status_path(token), token


async def notify_caller(
    conn: AsyncConnection, ticket_row_or_view: TicketView | Mapping[str, Any], event: Event, *, new: bool = False
) -> None:
    """Queue the caller's mail about ``event`` with a new status link, in ``conn``'s transaction.

    The address is the one given with the ticket (``requester_email``), else the requester's in the tenant's
    directory. A no-op without a usable address, and when this event's mail is queued already (that mail's link
    stays the valid one). The ticket is read again in ``conn``: a row or view from before the change will do.
    ``new``: the whole row of a ticket inserted in this transaction — nothing to read again, no mail queued yet.
    """
    if event not in ("created", "closed"):
        raise ValueError(f"unknown caller notification {event!r}")
    if new and (event != "created" or not isinstance(ticket_row_or_view, Mapping)):
        raise ValueError("only a ticket's creation has its whole row inserted in the same transaction")
    ticket_id = _get(ticket_row_or_view, "id")
    if ticket_id is None:
        return
    if new and isinstance(ticket_row_or_view, Mapping):
        ticket = dict(ticket_row_or_view)
    else:
        found = (await conn.execute(select(tickets).where(tickets.c.id == ticket_id))).mappings().first()
        if found is None:
            return
        ticket = dict(found)
    number = ticket["number"]
    address, name = await recipient(conn, ticket)
    if not address:
        return
    if not valid_address(address):
        log.warning("ticket %s: the requester's mail address is unusable; no mail", number)
        return
    key = f"caller:{ticket_id}:created" if event == "created" else await _closure_key(conn, ticket_id)
    if not new and (await conn.execute(select(outbox.c.id).where(outbox.c.dedupe_key == key))).first() is not None:
        return  # queued already: a new token now would break that mail's link
    link, token = await new_status_link(conn, int(ticket_id))
    subject, text = _texts(event, ticket, str(name), link)
    await enqueue(
        conn,
        tenant=ticket["tenant"],
        channel="mail",
        target=address,
        subject=subject,
        body={"text": text, REDACT: [token]},
        dedupe_key=key,
        ticket_id=int(ticket_id),
    )
