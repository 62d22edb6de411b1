"""What major incidents add to tickets, through the ports tickets offer those above them (registered on import;
``incidents.plugin`` imports this):

- the ticket JSON's ``incident`` (``tickets.extras``): the incident a ticket belongs to — as the parent ticket
  or linked (a caller who reported it) — so the ticket page can show it; null for a ticket of none;
- the words of the history rows incidents write (``tickets.history_text``): linked, taken off, parent of.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.incidents.service import ACTION, PARENT
from uhd_telephony.incidents.view import incidents, links
from uhd_telephony.tickets import extras, history_text
from uhd_telephony.tickets.history import iso
from uhd_telephony.tickets.history_text import Context, with_note
from uhd_telephony.tickets.view import TicketView

FIELD = "incident"


def _ref(row: Mapping[Any, Any], role: str) -> dict[str, Any]:
    return {"id": int(row["id"]), "title": row["title"], "status": row["status"], "role": role,
            "declared_at": iso(row["declared_at"])}  # fmt: skip


async def incident_of(
    conn: AsyncConnection, tenant: str, views: Sequence[TicketView], now: datetime
) -> dict[int, dict[str, Any]]:
    """{ticket id: the incident it belongs to} for those of ``views`` (the tenant's tickets) that belong to one."""
    ids = [v.id for v in views]
    columns = (incidents.c.id, incidents.c.title, incidents.c.status, incidents.c.declared_at)
    linked = await conn.execute(
        select(links.c.ticket_id, *columns)
        .select_from(links.join(incidents, incidents.c.id == links.c.incident_id))
        .where(links.c.ticket_id.in_(ids), incidents.c.tenant == tenant)
    )
    out = {int(r["ticket_id"]): _ref(r, "linked") for r in linked.mappings()}
    parents = await conn.execute(
        select(incidents.c.parent_ticket_id, *columns).where(
            incidents.c.parent_ticket_id.in_(ids), incidents.c.tenant == tenant
        )
    )
    out.update({int(r["parent_ticket_id"]): _ref(r, "parent") for r in parents.mappings()})
    return out


@history_text.describes(ACTION)
def describe(entry: Mapping[str, Any], ctx: Context) -> str:
    """``Zur Großstörung „KIS ausgefallen“ hinzugefügt`` and the like."""
    title = entry.get("note") or ""
    if entry.get("field") == PARENT:
        return ctx.t.gettext("Parent ticket of the major incident “%(title)s”", title=title)
    if entry.get("new_value"):
        return ctx.t.gettext("Linked to the major incident “%(title)s”", title=title)
    if entry.get("old_value"):
        return ctx.t.gettext("Taken off the major incident “%(title)s”", title=title)
    return with_note(ctx.t.gettext("Major incident"), entry.get("note"), ctx)


extras.add_field(FIELD, incident_of)
