"""A mail to a tenant's helpdesk address, taken in: a new ticket, a comment on the ticket it answers, or nothing
(it came before). One transaction per mail and tenant: the ticket or comment, the mail's record (its Message-ID)
and its attachments are written together or not at all.

- **New request**: a ticket of channel ``mail``; the requester is the directory's user with that address, else the
  sender's name and address (the caller's mail with the status link goes there); subject and text from the mail.
- **Reply** (``threads.answered_ticket``): from the requester or a directory user of the tenant, a public comment —
  a resolved ticket is reopened by it (the reply's first line is the reason); from anyone else, an internal note
  (a ticket number is easy to learn: a stranger's words never reach the requester's status page) that reopens
  nothing.
- **Reply to a closed ticket**: a closed ticket takes no comment (``tickets.workflow.FINAL``), so the reply opens a
  new ticket with the old one's subject and a history row naming it (``follows_up``).
- **Redelivery** (the same Message-ID for the tenant, or the same bytes without one): nothing new; two processes
  taking the same mail at once are decided by the unique (tenant, message_id).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.errors import Conflict
from uhd_telephony.i18n import Label, Msg
from uhd_telephony.mailin import history as mail_history
from uhd_telephony.mailin.message import Incoming
from uhd_telephony.mailin.models import MailKind, attachments, messages
from uhd_telephony.mailin.text import ELLIPSIS, clean, reply_text
from uhd_telephony.mailin.threads import Sender, answered_ticket, sender_in
from uhd_telephony.store.db import Database
from uhd_telephony.tickets import history as hist
from uhd_telephony.tickets.history import Action, Change
from uhd_telephony.tickets.models import Channel, TicketStatus
from uhd_telephony.tickets.service import SUBJECT_LENGTH, TEXT_LIMIT, TicketService
from uhd_telephony.tickets.view import TicketView, tickets
from uhd_telephony.tickets.workflow import FINAL, TicketWorkflow

log = logging.getLogger(__name__)

REASON_LENGTH = 200  # the reopening's reason: the reply's first line


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the mail became for one tenant, and the ticket's number."""

    kind: str  # a MailKind, or "duplicate"
    number: str
    ticket_id: int
    reopened: bool = False


def _first_line(text: str, limit: int) -> str:
    return next((line.strip() for line in text.split("\n") if line.strip()), "")[:limit]


class MailIntake:
    """Takes mails in for the tickets of one database (its TicketService's clock and numbering)."""

    def __init__(self, tickets: TicketService, *, sent_from: str) -> None:
        """``sent_from``: the helpdesk's own sender (``UHD_MAIL_FROM``), whose Message-IDs a reply may name."""
        self.tickets = tickets
        self.workflow = TicketWorkflow(tickets)
        self.db: Database = tickets.db
        self.sent_from = sent_from
        self.sent_from_address = parseaddr(sent_from)[1].strip().lower()  # a mail from it is the helpdesk's own

    async def take(self, mail: Incoming, tenant: str) -> Outcome:
        """The mail as ``tenant``'s ticket or comment (``mail.sender`` must be set); a failure writes nothing."""
        assert mail.sender is not None, "a mail without a sender is refused before it gets here"
        async with self.db.engine.connect() as conn:
            known = await self._stored(conn, tenant, mail.message_id)
            if known is not None:
                return known
            sender = await sender_in(conn, tenant, mail.sender, mail.sender_name)
            target_id = await answered_ticket(conn, tenant, mail, sender, self.sent_from)
        target = await self.tickets.get(tenant, target_id) if target_id is not None else None
        try:
            if target is not None and target.status not in FINAL:
                try:
                    return await self._reply(mail, tenant, sender, target)
                except Conflict:  # closed in the meantime: as if it had been closed already
                    pass
            return await self._open(mail, tenant, sender, follows=target)
        except IntegrityError:
            # the same mail, taken by another process at the same moment: its transaction won
            async with self.db.engine.connect() as conn:
                known = await self._stored(conn, tenant, mail.message_id)
            if known is None:
                raise
            return known

    # -- the two ways in --------------------------------------------------------------------------------------

    async def _open(self, mail: Incoming, tenant: str, sender: Sender, *, follows: TicketView | None) -> Outcome:
        text = clean(reply_text(mail.text) if follows is not None else mail.text, TEXT_LIMIT)
        subject = (follows.subject if follows is not None else "") or mail.subject or _first_line(text, SUBJECT_LENGTH)

        async def then(conn: AsyncConnection, ticket_id: int, now: datetime) -> None:
            rows = [mail_history.follow_up_row(follows.number)] if follows is not None else []
            rows += await self._record(conn, tenant, ticket_id, mail, MailKind.TICKET, now)
            await hist.append(conn, ticket_id, now, sender.actor, rows)

        view = await self.tickets.create(
            tenant,
            channel=Channel.MAIL,
            subject=subject[:SUBJECT_LENGTH],
            description=text,
            requester=sender.requester(),
            actor=sender.actor,
            then=then,
        )
        log.info("mail %s opened ticket %s of tenant %s%s", mail.message_id, view.number, tenant,
                 f" (follow-up to the closed {follows.number})" if follows is not None else "")  # fmt: skip
        return Outcome(MailKind.TICKET.value, view.number, view.id)

    async def _reply(self, mail: Incoming, tenant: str, sender: Sender, target: TicketView) -> Outcome:
        party = sender.known or sender.address == (target.requester_email or "").strip().lower()
        kind = MailKind.COMMENT if party else MailKind.NOTE
        text = clean(reply_text(mail.text), TEXT_LIMIT) or mail.subject or ELLIPSIS
        reopened: list[bool] = []

        async def change(conn: AsyncConnection, row: Any, now: datetime) -> list[Change]:
            if row["status"] in FINAL:
                closed = Msg("ticket %(number)s is %(status)s: reopen it first", number=row["number"],
                             status=Label("status", row["status"]))  # fmt: skip
                raise Conflict(closed, {"ticket_id": row["id"]})
            changes: list[Change] = []
            if kind == MailKind.COMMENT and row["status"] == TicketStatus.RESOLVED.value:
                reopen = self.workflow.status_change(TicketStatus.REOPENED.value, _first_line(text, REASON_LENGTH))
                changes += await reopen(conn, row, now)
                reopened.append(True)
            visibility = hist.PUBLIC_COMMENT if kind == MailKind.COMMENT else hist.INTERNAL_COMMENT
            changes.append(Change(Action.COMMENT, visibility, None, None, text))
            return changes + await self._record(conn, tenant, int(row["id"]), mail, kind, now)

        view = await self.workflow.record(tenant, target.id, change, actor=sender.actor)
        log.info("mail %s added a %s to ticket %s of tenant %s%s", mail.message_id, kind, view.number, tenant,
                 ", reopened" if reopened else "")  # fmt: skip
        return Outcome(kind.value, view.number, view.id, reopened=bool(reopened))

    # -- the mail's own rows ----------------------------------------------------------------------------------

    async def _record(
        self, conn: AsyncConnection, tenant: str, ticket_id: int, mail: Incoming, kind: MailKind, now: datetime
    ) -> list[Change]:
        """The mail's record and its attachments, in the ticket's transaction; the history rows saying so."""
        assert mail.sender is not None
        mail_id = (
            await conn.execute(
                insert(messages)
                .values(
                    tenant=tenant,
                    message_id=mail.message_id,
                    ticket_id=ticket_id,
                    kind=kind.value,
                    sender=mail.sender,
                    size=mail.size,
                    received_at=now,
                )
                .returning(messages.c.id)
            )
        ).scalar_one()
        stored = []
        for item in mail.attachments:
            values = {
                "tenant": tenant, "ticket_id": ticket_id, "mail_id": mail_id, "filename": item.filename,
                "content_type": item.content_type, "size": len(item.data), "data": item.data, "created_at": now,
            }  # fmt: skip
            added = await conn.execute(insert(attachments).values(values).returning(attachments.c.id))
            attachment_id = added.scalar_one()
            stored.append({"id": int(attachment_id), "filename": item.filename, "size": len(item.data)})
        rows = [mail_history.stored_row(stored)] if stored else []
        return rows + ([mail_history.dropped_row(mail.dropped)] if mail.dropped else [])

    @staticmethod
    async def _stored(conn: AsyncConnection, tenant: str, message_id: str) -> Outcome | None:
        """The outcome of the mail when the tenant has it already (a redelivery)."""
        stmt = (
            select(messages.c.ticket_id, tickets.c.number)
            .join(tickets, tickets.c.id == messages.c.ticket_id)
            .where(messages.c.tenant == tenant, messages.c.message_id == message_id)
        )
        row = (await conn.execute(stmt)).first()
        return None if row is None else Outcome("duplicate", row.number, int(row.ticket_id))
