"""Who wrote a mail and which ticket it answers, within one tenant.

The sender is a user of the tenant's directory when exactly one active user has that address (case ignored), else
an unknown sender kept by name and address. The ticket a mail answers is, in this order: a ticket number of the
tenant in the subject (``UHD-2026-000123``, as the helpdesk's mails carry it), a mail of the tenant taken in before
that the mail refers to (In-Reply-To / References), or a mail the helpdesk sent to this sender about one of their
tickets (its Message-ID is derived from the outbox row: ``outbox.mail.message_id``). A number or an id of another
tenant is nobody's here: such a mail opens a new ticket of this tenant and never touches the other's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.directory.models import PHONES, USERS
from uhd_telephony.mailin.message import Incoming
from uhd_telephony.mailin.models import messages
from uhd_telephony.outbox.mail import message_id
from uhd_telephony.outbox.models import OutboxChannel, outbox
from uhd_telephony.tickets.ids import DIGITS, PREFIX, normalise_number
from uhd_telephony.tickets.requester import Requester
from uhd_telephony.tickets.view import tickets

ACTOR_PREFIX = "mail:"
ACTOR_LENGTH = 128
# a ticket number anywhere in a subject ("AW: [UHD-2026-000123] Ihre Anfrage …"), any case
_NUMBER = re.compile(rf"(?<![A-Za-z0-9]){PREFIX}-\d{{4}}-\d{{{DIGITS},}}(?![0-9])", re.IGNORECASE)
CANDIDATE_TICKETS = 200  # a requester's newest tickets whose sent mails a reply may answer


@dataclass(frozen=True, slots=True)
class Sender:
    """Who wrote: their address, the name they gave, and their directory entry when the tenant has one."""

    address: str
    name: str
    user_id: int | None = None
    user_name: str = ""
    number: str = ""
    vip: bool = False

    @property
    def known(self) -> bool:
        """A user of the tenant's directory."""
        return self.user_id is not None

    @property
    def actor(self) -> str:
        """How the ticket history names them: ``mail:<address>``."""
        return (ACTOR_PREFIX + self.address)[:ACTOR_LENGTH]

    def requester(self) -> Requester:
        """The requester of a ticket they open: the directory's user, else their name (or address) and address."""
        name = self.user_name or self.name or self.address
        return Requester(user_id=self.user_id, name=name[:200], number=self.number, vip=self.vip, email=self.address)


async def sender_in(conn: AsyncConnection, tenant: str, address: str, name: str) -> Sender:
    """The sender as the tenant's directory knows them (one active user with that address), else unknown."""
    stmt = (
        select(USERS.c.id, USERS.c.name, USERS.c.vip)
        .where(USERS.c.tenant == tenant, USERS.c.active.is_(True), func.lower(USERS.c.email) == address.lower())
        .limit(2)
    )
    found = (await conn.execute(stmt)).all()
    if len(found) != 1:  # nobody, or two people sharing an address: the mail says who, not the directory
        return Sender(address, name)
    user = found[0]
    phone = (
        await conn.execute(select(PHONES.c.raw).where(PHONES.c.user_id == user.id).order_by(PHONES.c.id).limit(1))
    ).scalar_one_or_none()
    return Sender(address, name, user_id=int(user.id), user_name=user.name, number=phone or "", vip=bool(user.vip))


def numbers_in(subject: str) -> list[str]:
    """The ticket numbers a subject names, in canonical spelling, first one first."""
    found = (normalise_number(m.group(0)) for m in _NUMBER.finditer(subject))
    return list(dict.fromkeys(n for n in found if n is not None))


async def answered_ticket(
    conn: AsyncConnection, tenant: str, mail: Incoming, sender: Sender, sent_from: str
) -> int | None:
    """The id of the tenant's ticket the mail answers, or None (a new request)."""
    for number in numbers_in(mail.subject):
        stmt = select(tickets.c.id).where(tickets.c.tenant == tenant, tickets.c.number == number)
        found = (await conn.execute(stmt)).scalar_one_or_none()
        if found is not None:
            return int(found)
    if not mail.references:
        return None
    return await _stored_reference(conn, tenant, mail.references) or await _sent_reference(
        conn, tenant, mail.references, sender, sent_from
    )


async def _stored_reference(conn: AsyncConnection, tenant: str, refs: tuple[str, ...]) -> int | None:
    """The ticket of the newest mail taken in before that ``refs`` names."""
    stmt = select(messages.c.message_id, messages.c.ticket_id).where(
        messages.c.tenant == tenant, messages.c.message_id.in_(refs)
    )
    by_id = {row.message_id: int(row.ticket_id) for row in await conn.execute(stmt)}
    return next((by_id[ref] for ref in reversed(refs) if ref in by_id), None)


async def _sent_reference(
    conn: AsyncConnection, tenant: str, refs: tuple[str, ...], sender: Sender, sent_from: str
) -> int | None:
    """The ticket of the newest mail the helpdesk sent about one of the sender's tickets that ``refs`` names."""
    mine = func.lower(tickets.c.requester_email) == sender.address
    if sender.user_id is not None:  # (a NULL here would be every ticket without a directory user)
        mine = or_(mine, tickets.c.requester_user_id == sender.user_id)
    candidates = (
        select(tickets.c.id)
        .where(tickets.c.tenant == tenant, mine)
        .order_by(tickets.c.id.desc())
        .limit(CANDIDATE_TICKETS)
    )
    ids = [int(i) for i in (await conn.execute(candidates)).scalars()]
    if not ids:
        return None
    stmt = select(outbox.c.ticket_id, outbox.c.dedupe_key).where(
        outbox.c.tenant == tenant, outbox.c.channel == OutboxChannel.MAIL.value, outbox.c.ticket_id.in_(ids)
    )
    by_id = {message_id(row.dedupe_key, sent_from): int(row.ticket_id) for row in await conn.execute(stmt)}
    return next((by_id[ref] for ref in reversed(refs) if ref in by_id), None)
