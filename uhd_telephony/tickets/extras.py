"""What capabilities above tickets add to a ticket's JSON and to the ticket list's sorts: ports filled from above.

Tickets know neither the SLA nor anything else above them (``pyproject.toml``'s import contracts). A capability
that has something to say about tickets registers here, the way the SLA follows ticket changes through
``tickets.history.on_change``:

- ``add_field(name, provider)``: ``provider(conn, tenant, views, now)`` answers ``{ticket id: value}`` for a batch of
  one tenant's tickets (one round of queries for the batch, not one per ticket); the ticket API puts ``value``
  under ``name`` in each ticket's JSON (``sla``: the SLA capability's ``sla.view``). A ticket it has nothing for
  gets ``null``.
- ``add_sort(name, order)``: ``order(now)`` gives the ORDER BY expressions of the ticket list's sort ``name``
  (correlated with ``tickets.view.tickets``); ``tickets.search`` pages such a sort by offset.

What is not registered does not exist: a field is simply absent, the sort is a 400 naming the sorts there are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncConnection

from uhd_telephony.store.db import Database
from uhd_telephony.tickets.view import TicketView

# (connection, tenant, that tenant's tickets, now) -> {ticket id: the field's value}
FieldProvider = Callable[[AsyncConnection, str, Sequence[TicketView], datetime], Awaitable[Mapping[int, Any]]]
# now -> the ORDER BY expressions of a sort (ticket id is appended as the last key)
SortOrder = Callable[[datetime], Sequence[ColumnElement[Any]]]

_fields: dict[str, FieldProvider] = {}
_sorts: dict[str, SortOrder] = {}


def add_field(name: str, provider: FieldProvider) -> FieldProvider:
    """Have the ticket API show ``provider``'s value under ``name`` (registered once per name: the last wins)."""
    _fields[name] = provider
    return provider


def add_sort(name: str, order: SortOrder) -> SortOrder:
    """Offer the ticket list's sort ``name`` ordered by ``order(now)`` (the last registration of a name wins)."""
    _sorts[name] = order
    return order


def sort_order(name: str) -> SortOrder | None:
    """The registered order of sort ``name``; None when no capability offers it."""
    return _sorts.get(name)


def field_names() -> tuple[str, ...]:
    return tuple(_fields)


async def extra_fields(
    db: Database, tenant: str, views: Sequence[TicketView], now: datetime | None = None
) -> dict[int, dict[str, Any]]:
    """Every registered field of ``views`` (tickets of ``tenant``): ``{ticket id: {name: value}}`` (value None
    where a provider has nothing); empty when nothing is registered or there are no tickets."""
    if not _fields or not views:
        return {}
    moment = now or datetime.now(UTC)
    out: dict[int, dict[str, Any]] = {v.id: dict.fromkeys(_fields) for v in views}
    async with db.engine.connect() as conn:
        for name, provider in _fields.items():
            for ticket_id, value in (await provider(conn, tenant, views, moment)).items():
                if ticket_id in out:
                    out[ticket_id][name] = value
    return out
