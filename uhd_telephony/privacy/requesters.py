"""A ticket's requester replaced by a pseudonym: one way for the retention scanner and for an erasure.

The ticket stays (its number, category, times, history: every figure); the requester's name becomes
``Gelöschte Person 7f3a``, the directory user and place links go, the mail address goes, and the number becomes the
person's token (``anon:…``) where the ticket had a requester key (a directory user or a number): the monthly
report's "callers with repeated tickets" (``metrics.recurring``) groups tickets by that key, and one token per
person keeps its groups the same groups. A ticket without a number (a mail or web ticket) keeps an empty number, so
it joins no group it was not in. The same texts in the ticket's subject, description and history are replaced too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.privacy.pseudonyms import is_pseudonym, name_of, scrub
from uhd_telephony.store.models import table_of
from uhd_telephony.tickets.models import TicketHistory, TicketStatus
from uhd_telephony.tickets.view import tickets

history = table_of(TicketHistory)
DONE = (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value)
CHUNK = 500


def replacements_of(rows: Iterable[Any], pseudonym: str) -> dict[str, str]:
    """What to replace in the texts: the rows' names, numbers and addresses (``requester_*`` or the rows' own
    ``name``/``number``/``email``) by the pseudonym's name and token."""
    out: dict[str, str] = {}
    for row in rows:
        for field in ("name", "number", "email"):
            value = getattr(row, field, None)
            if value and not is_pseudonym(value):
                out[str(value)] = name_of(pseudonym) if field == "name" else pseudonym
    return out


async def pseudonymise_tickets(
    conn: AsyncConnection, tenant: str, where: ColumnElement[bool], pseudonym: str, *, keyed: bool
) -> int:
    """The tenant's tickets matching ``where`` get the pseudonym (``keyed``: as their number too); how many."""
    t = tickets.c
    stmt = select(t.id, t.requester_name.label("name"), t.requester_number.label("number"),
                  t.requester_email.label("email")).where(t.tenant == tenant, where)  # fmt: skip
    rows = (await conn.execute(stmt)).all()
    if not rows:
        return 0
    ids = [r.id for r in rows]
    values: dict[str, Any] = {
        "requester_user_id": None,
        "requester_place_id": None,
        "requester_name": name_of(pseudonym),
        "requester_email": None,
    }
    if keyed:
        values["requester_number"] = pseudonym
    for chunk in range(0, len(ids), CHUNK):
        await conn.execute(update(tickets).where(t.id.in_(ids[chunk : chunk + CHUNK])).values(**values))
    await scrub_tickets(conn, ids, replacements_of(rows, pseudonym))
    return len(ids)


async def scrub_tickets(conn: AsyncConnection, ids: Sequence[int], replacements: dict[str, str]) -> int:
    """The texts of the tickets ``ids`` (subject, description, every history row) with ``replacements``; how many
    rows changed."""
    if not replacements or not ids:
        return 0
    changed = 0
    t, h = tickets.c, history.c
    for chunk in range(0, len(ids), CHUNK):
        part = ids[chunk : chunk + CHUNK]
        own = (await conn.execute(select(t.id, t.subject, t.description).where(t.id.in_(part)))).all()
        changed += await _rewrite(conn, tickets, own, ("subject", "description"), replacements)
        rows = (await conn.execute(select(h.id, h.old_value, h.new_value, h.note).where(h.ticket_id.in_(part)))).all()
        changed += await _rewrite(conn, history, rows, ("old_value", "new_value", "note"), replacements)
    return changed


async def _rewrite(conn: AsyncConnection, table: Any, rows: Sequence[Any], fields: tuple[str, ...],
                   replacements: dict[str, str]) -> int:  # fmt: skip
    """Rows whose ``fields`` hold a replaced text, written back by id in one executemany."""
    params = []
    for row in rows:
        new = {f: scrub(getattr(row, f), replacements) for f in fields}
        if any(new[f] != getattr(row, f) for f in fields):
            params.append({"row_id": row.id, **{f"new_{f}": v for f, v in new.items()}})
    if params:
        stmt = update(table).where(table.c.id == bindparam("row_id")).values({f: bindparam(f"new_{f}") for f in fields})
        await conn.execute(stmt, params)
    return len(params)
