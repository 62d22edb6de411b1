"""An article's use where a ticket is read: under ``articles`` in the ticket API's JSON (through the port
``tickets.extras``) and in the ticket's history in words (``tickets.history_text.describes``) — registered when
this module is imported (``articles.plugin`` does)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.articles.service import ACTION, SOLVED, uses_of
from uhd_telephony.i18n import Msg, Quoted
from uhd_telephony.tickets import extras, history_text
from uhd_telephony.tickets.view import TicketView

FIELD = "articles"  # the name of the ticket JSON's field


async def used(
    conn: AsyncConnection, tenant: str, views: Sequence[TicketView], now: datetime
) -> dict[int, list[dict[str, Any]]]:
    """The articles used on each of ``views`` (one query for the batch); a ticket without any: not in it."""
    return await uses_of(conn, tenant, [v.id for v in views])


@history_text.describes(ACTION)
def describe(entry: Mapping[str, Any], ctx: history_text.Context) -> str:
    """ "Gelöst mit dem Artikel „KIS: Anmeldung schlägt fehl“" / "Artikel „…“ versucht: nicht gelöst"."""
    title = Quoted(entry.get("note") or entry.get("new_value") or "")
    if entry.get("field") == SOLVED:
        return Msg("Solved with the article %(title)s", title=title).render(ctx.locale)
    return Msg("Tried the article %(title)s: not solved", title=title).render(ctx.locale)


extras.add_field(FIELD, used)
